"""Prompt sensitivity: the statistics on known numbers, and `ccrefine eval prompts` comparing two real checkpoints
under three templates of the word-order task."""

from __future__ import annotations

import json
import statistics

import pytest
from ccrefine.eval.harness import CcrefineLM, evaluate_tasks, main_metrics, task_manager
from ccrefine.eval.prompts import named_checkpoints, ordering, sensitivity

from ccrefine.errors import UsageError

TEMPLATES = ["{{prefix}}", "Sentence: {{prefix}}", "Here is a well-formed English sentence. {{prefix}}"]


def test_spread_and_a_stable_ranking():
    result = sensitivity({"a": [0.50, 0.60, 0.55], "b": [0.40, 0.45, 0.50]}, ["t0", "t1", "t2"])
    assert result["spread"]["a"] == {"min": 0.50, "max": 0.60, "mean": pytest.approx(0.55),
                                     "std": pytest.approx(statistics.stdev([0.50, 0.60, 0.55]))}
    assert result["rankings"] == [["a", "b"]] * 3
    assert result["pairs"] == [{"pair": ["a", "b"], "first_wins": 3, "second_wins": 0, "ties": 0}]
    assert result["stable"]


def test_a_flip_or_a_tie_is_not_stable_and_lower_can_be_better():
    flipped = sensitivity({"a": [0.5, 0.4], "b": [0.4, 0.5], "c": [0.1, 0.1]}, ["t0", "t1"])
    assert not flipped["stable"] and flipped["rankings"] == [["a", "b", "c"], ["b", "a", "c"]]
    assert {"pair": ["a", "c"], "first_wins": 2, "second_wins": 0, "ties": 0} in flipped["pairs"]
    assert not sensitivity({"a": [0.5, 0.5], "b": [0.5, 0.4]}, ["t0", "t1"])["stable"]
    perplexity = sensitivity({"a": [10.0, 12.0], "b": [20.0, 25.0]}, ["t0", "t1"], higher_is_better=False)
    assert perplexity["stable"] and perplexity["rankings"][0] == ["a", "b"]


def test_orderings_show_ties():
    assert ordering(["a", "b", "c"], [0.6, 0.5, 0.5]) == "a > b = c"


def test_checkpoint_names():
    assert named_checkpoints(["early=/runs/a/step-1", "/runs/b"]) == {"early": "/runs/a/step-1", "/runs/b": "/runs/b"}
    with pytest.raises(UsageError, match="given twice"):
        named_checkpoints(["x=/a", "x=/b"])


def test_prompts_command_compares_two_checkpoints_under_three_templates(trained_run, tmp_path, offline_hub, eval_cli,
                                                                         capsys):
    steps = sorted((trained_run / "checkpoints").glob("step-*"))
    output = tmp_path / "prompts.json"
    argv = ["eval", "prompts", "--task", "ccrefine_wordorder", "--checkpoint", f"step20={steps[0]}",
            "--checkpoint", f"step40={steps[1]}", "--batch-size", "8", "--output", str(output)]
    for template in TEMPLATES:
        argv += ["--template", template]
    assert eval_cli(argv) == 0
    printed = capsys.readouterr().out
    assert "Order under each template" in printed and "Ranking " in printed and "stderr of acc" in printed
    result = json.loads(output.read_text())
    assert list(result["scores"]) == ["step20", "step40"] and result["templates"] == TEMPLATES
    for name, scores in result["scores"].items():
        assert len(scores) == 3 and all(0 <= score <= 1 for score in scores)
        assert result["spread"][name]["min"] == min(scores) and result["spread"][name]["max"] == max(scores)
        assert all(0 < stderr < 0.5 for stderr in result["stderrs"][name])
    # template 0 is the task's own doc_to_text: the variant file changed nothing else
    own = main_metrics(evaluate_tasks(CcrefineLM(str(steps[1]), device="cpu"), ["ccrefine_wordorder"],
                                      task_manager(["ccrefine_wordorder"]), bootstrap_iters=0))
    assert result["scores"]["step40"][0] == pytest.approx(own["ccrefine_wordorder"]["acc"])
    if result["stable"]:
        assert all(ranking == result["rankings"][0] for ranking in result["rankings"])


def test_prompts_need_two_templates(trained_run, eval_cli):
    with pytest.raises(UsageError, match="at least two --template"):
        eval_cli(["eval", "prompts", "--task", "ccrefine_wordorder", "--checkpoint", str(trained_run),
                  "--template", "{{prefix}}"])
