"""The lm-evaluation-harness adapter on a real tiny checkpoint, hub switched off: ccrefine's own task files
(multiple choice, perplexity, generation) and a user's YAML task over a local jsonl file, through the Python
API and the command line. lm-eval's numbers are checked against our model scored directly."""

from __future__ import annotations

import json
import math

import lm_eval
import pytest
import torch
import yaml
from ccrefine.eval.harness import LOCAL_TASKS, CcrefineLM, cut_at_stop, main_metrics, task_manager
from ccrefine.eval.perplexity import EvalDocument, score_documents
from ccrefine.model import generate
from lm_eval.api.instance import Instance

from ccrefine.errors import UsageError

MAX_LENGTH = 64


@pytest.fixture(scope="module")
def lm(trained_run) -> CcrefineLM:
    return CcrefineLM(str(trained_run), device="cpu", batch_size=8)


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (LOCAL_TASKS / name).read_text().splitlines()]


def choice_logprob(lm: CcrefineLM, context: str, choice: str) -> float:
    """log p(" " + choice | EOD + context), one plain forward pass, no batching or padding."""
    whole = lm.tokenizer.encode(context + " " + choice)
    split = len(lm.tokenizer.encode(context))
    tokens = [lm.eod, *whole]
    with torch.no_grad():
        logprobs = lm.model(torch.tensor([tokens[:-1]]))[0].log_softmax(-1)
    targets = torch.tensor(tokens[1:])
    return logprobs[torch.arange(len(targets)), targets][split:].sum().item()


def test_simple_evaluate_runs_local_tasks_and_agrees_with_direct_scoring(lm, offline_hub):
    results = lm_eval.simple_evaluate(model=lm, tasks=["ccrefine_wordorder", "ccrefine_prose", "ccrefine_continue"],
                                      task_manager=task_manager(["ccrefine_wordorder"]), bootstrap_iters=0,
                                      log_samples=False)
    metrics = main_metrics(results)
    # multiple choice: the choice the model finds most likely, scored here without the adapter's batching
    docs = rows("wordorder.jsonl")
    correct = [max(range(len(doc["choices"])), key=lambda i, doc=doc: choice_logprob(lm, doc["prefix"],
                                                                                     doc["choices"][i]))
               == doc["label"] for doc in docs]
    assert metrics["ccrefine_wordorder"]["acc"] == pytest.approx(sum(correct) / len(docs))
    assert metrics["ccrefine_wordorder"]["sample_len"] == 40
    # perplexity: lm-eval's bits per byte equals ours with disjoint windows of max_length
    texts = [row["text"] for row in rows("prose.jsonl")]
    documents = [EvalDocument("prose", "en", text, torch.tensor(lm.tokenizer.encode(text)).numpy()) for text in texts]
    ours = score_documents(lm.loaded, documents, MAX_LENGTH, MAX_LENGTH, 4).to_dict()["total"]
    assert metrics["ccrefine_prose"]["bits_per_byte"] == pytest.approx(ours["bits_per_byte"], rel=1e-5)
    assert metrics["ccrefine_prose"]["byte_perplexity"] == pytest.approx(2 ** ours["bits_per_byte"], rel=1e-5)
    assert 0 <= metrics["ccrefine_continue"]["exact_match"] <= 1


def test_model_by_name_with_model_args(trained_run, offline_hub):
    results = lm_eval.simple_evaluate(model="ccrefine", model_args=f"checkpoint={trained_run},device=cpu",
                                      batch_size=4, tasks=["ccrefine_prose"], limit=2, bootstrap_iters=0,
                                      task_manager=task_manager(["ccrefine_prose"]), log_samples=False)
    assert results["results"]["ccrefine_prose"]["bits_per_byte,none"] > 0


def test_loglikelihood_batches_truncates_and_knows_greedy(lm):
    def requests(pairs):
        return [Instance("loglikelihood", {}, pair, index) for index, pair in enumerate(pairs)]

    pairs = [("The river runs", " through the town."), ("", "Hello"), ("Every Saturday ", "morning a market"),
             ("word " * 200, "end")]
    batched = lm.loglikelihood(requests(pairs))
    lm.batch_size = 1
    alone = lm.loglikelihood(requests(pairs))
    lm.batch_size = 8
    assert [b[0] for b in batched] == pytest.approx([a[0] for a in alone], abs=1e-4)
    assert batched[0][0] == pytest.approx(choice_logprob(lm, "The river runs", "through the town."), abs=1e-4)
    assert len(lm.pair_piece(*pairs[3]).tokens) == MAX_LENGTH + 1  # context cut from the left
    # the greedy continuation of a context is, by definition, greedy
    prompt = [lm.eod, *lm.tokenizer.encode("The river runs")]
    continuation = lm.tokenizer.decode(generate(lm.model, [prompt], 3)[0])
    assert lm.loglikelihood(requests([("The river runs", continuation)]))[0][1] is True
    assert all(math.isfinite(logprob) and logprob < 0 for logprob, _ in batched)


def test_generate_until_stops_at_the_stop_strings(lm):
    contexts = ["Monday, Tuesday,", "The capital of France is"]
    settings = {"until": ["\n"], "max_gen_toks": 6, "do_sample": False}
    texts = lm.generate_until([Instance("generate_until", {}, (c, settings), i) for i, c in enumerate(contexts)])
    for context, text in zip(contexts, texts, strict=True):
        greedy = generate(lm.model, [[lm.eod, *lm.tokenizer.encode(context)]], 6, eos_id=lm.eod)[0]
        assert text == cut_at_stop(lm.tokenizer.decode([t for t in greedy if t != lm.eod]), ["\n"])
    assert cut_at_stop("one, two. three", [".", ","]) == "one"


def test_cli_runs_ccrefine_tasks_and_a_users_jsonl_task(trained_run, tmp_path, offline_hub, eval_cli, capsys):
    """A user's task in the standard form (dataset_path: json over a local file), next to ccrefine's own."""
    data = tmp_path / "capitals.jsonl"
    data.write_text("\n".join(json.dumps({"q": f"{country} has the capital", "choices": choices, "label": 0})
                              for country, choices in [("France", ["Paris", "Berlin"]), ("Japan", ["Tokyo", "Rome"]),
                                                       ("Italy", ["Rome", "Madrid"])]) + "\n")
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "capitals.yaml").write_text(yaml.safe_dump({
        "task": "my_capitals", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(data)}},
        "output_type": "multiple_choice", "test_split": "test", "doc_to_text": "{{q}}",
        "doc_to_choice": "{{choices}}", "doc_to_target": "{{label}}",
        "metric_list": [{"metric": "acc"}], "metadata": {"version": 1.0}}))
    output = tmp_path / "results.json"
    assert eval_cli(["eval", "harness", "--checkpoint", str(trained_run), "--tasks", "my_capitals,ccrefine_wordorder",
                     "--include-path", str(tasks), "--batch-size", "4", "--bootstrap-iters", "0",
                     "--output", str(output)]) == 0
    assert "my_capitals" in capsys.readouterr().out
    results = json.loads(output.read_text())["results"]
    assert 0 <= results["my_capitals"]["acc,none"] <= 1 and "acc,none" in results["ccrefine_wordorder"]


@pytest.mark.slow  # lm-eval indexes every task it ships (10 s) to suggest close names
def test_an_unknown_task_names_close_ones_before_loading_the_model(tmp_path, eval_cli):
    with pytest.raises(UsageError, match="unknown task.*arc_eazy \\(close: arc_easy"):
        eval_cli(["eval", "harness", "--checkpoint", str(tmp_path / "not-loaded"), "--tasks", "arc_eazy"])
