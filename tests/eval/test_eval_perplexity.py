"""Loading checkpoints for evaluation and `ccrefine eval perplexity` on a real tiny training of the sample corpus."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from ccrefine.eval.checkpoints import consolidated_state_dict, load_for_eval
from ccrefine.eval.perplexity import manifest_documents, score_documents, shard_documents, text_documents
from ccrefine.pipelines.cli import main as ccrefine
from ccrefine.trainer.checkpoints import latest_checkpoint

from ccrefine.errors import UsageError

ENGLISH = ("The new library opened on Monday. It has a large reading room, a children's corner and a small cafe, "
           "and it stays open until nine o'clock in the evening so that people can visit after work.\n")
CHINESE = ("新图书馆星期一开放。馆内有一个很大的阅览室、一个儿童角和一个小咖啡馆，"
           "晚上九点才关门，方便大家下班以后来看书。\n")


def manifest_of(run: Path) -> Path:
    return run.parent / "tokens" / "manifest.json"


def test_run_folder_checkpoint_folder_and_saved_model_load_the_same_weights(trained_run, tmp_path):
    step = latest_checkpoint(trained_run / "checkpoints").path
    from_run, from_step = load_for_eval(trained_run, device="cpu"), load_for_eval(step, device="cpu")
    assert from_run.name == from_step.name == "run/step-00000040" and from_run.seq_len == 64
    saved = tmp_path / "saved"
    from_run.model.save(saved)
    shutil.copy(manifest_of(trained_run).parent / "tokenizer.model", saved / "tokenizer.model")
    from_saved = load_for_eval(saved, device="cpu")
    tokens = torch.tensor([from_run.tokenizer.encode(ENGLISH)[:60]])
    with torch.no_grad():
        logits = [loaded.model(tokens) for loaded in (from_run, from_step, from_saved)]
    assert torch.equal(logits[0], logits[1]) and torch.equal(logits[0], logits[2])
    assert from_saved.tokenizer.vocab_size == from_run.tokenizer.vocab_size == 1000


def test_zero3_checkpoint_consolidates_to_the_weights_zero0_reaches(trained_run, tmp_path):
    """ZeRO-3 keeps only partitions of the fp32 weights in its files; consolidated, they equal the weights a ZeRO-0
    run of the same seed and data reaches (stages differ in bookkeeping only)."""
    from ccrefine.trainer.config import config_from_dict
    from ccrefine.trainer.run import train

    weights = {}
    for stage in (0, 3):
        output = tmp_path / f"zero{stage}"
        train(config_from_dict({
            "output": str(output), "model": {"preset": "llama-tiny"},
            "data": {"manifest": str(manifest_of(trained_run)), "seq_len": 32},
            "train": {"steps": 4, "micro_batch_size": 2, "global_batch_size": 2, "zero_stage": stage},
            "eval": {"interval": 0}, "log": {"tensorboard": False, "progress": False}}))
        step = latest_checkpoint(output / "checkpoints").path
        assert any(step.glob("*zero_pp_rank_*")) == (stage == 3)
        weights[stage] = consolidated_state_dict(step)
    assert weights[3].keys() == weights[0].keys()
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[3][name], tensor, rtol=1e-4, atol=1e-5)
    loaded = load_for_eval(tmp_path / "zero3", device="cpu")  # the tokenizer is found through the run's config
    assert loaded.seq_len == 32


def test_shards_score_like_their_decoded_text(trained_run, tmp_path):
    """The validation split scored as stored equals its decoded text re-encoded and scored as text files: the
    tokenizer round-trips exactly, and both paths share windows and the end-of-document prefix."""
    loaded = load_for_eval(trained_run, device="cpu")
    stored = list(shard_documents(manifest_documents(manifest_of(trained_run), 1000), loaded.tokenizer))
    files = []
    for number, document in enumerate(stored):
        path = tmp_path / f"doc{number}.txt"
        path.write_text(document.text, encoding="utf-8")
        files.append((document.source, path))
    from_text = text_documents(files, loaded.tokenizer)
    assert [d.tokens.tolist() for d in from_text] == [d.tokens.tolist() for d in stored]
    shards = score_documents(loaded, stored, 64, 32, 8).to_dict()["total"]
    texts = score_documents(loaded, from_text, 64, 32, 8).to_dict()["total"]
    assert shards["nll"] == pytest.approx(texts["nll"], rel=1e-6)
    assert shards["bytes"] == sum(len(d.text.encode()) for d in stored)
    assert shards["bits_per_byte"] == pytest.approx(shards["nll"] / math.log(2) / shards["bytes"])


def test_perplexity_command_reports_sources_languages_and_total(trained_run, tmp_path, eval_cli, capsys):
    (tmp_path / "english.txt").write_text(ENGLISH * 3, encoding="utf-8")
    (tmp_path / "chinese.txt").write_text(CHINESE * 3, encoding="utf-8")
    output = tmp_path / "perplexity.json"
    assert eval_cli(["eval", "perplexity", "--checkpoint", str(trained_run), "--manifest",
                     str(manifest_of(trained_run)), "--text", f"web={tmp_path}/*.txt", "--stride", "16",
                     "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "windows of 64 tokens every 16" in printed and "| language | zh |" in printed
    result = json.loads(output.read_text())
    assert set(result["by_source"]) == {"corpus", "web"}
    assert {"en", "zh"} <= set(result["by_language"])
    total = result["total"]
    assert total["documents"] == sum(group["documents"] for group in result["by_source"].values())
    assert total["nll"] == pytest.approx(sum(group["nll"] for group in result["by_language"].values()))
    # a trained model beats a uniform guess over its vocabulary, per token
    assert 0 < total["loss"] < math.log(1000) and total["perplexity"] == pytest.approx(math.exp(total["loss"]))


def test_mistakes_name_their_fix(trained_run, tmp_path, eval_cli):
    with pytest.raises(UsageError, match="is neither a Decoder.save folder"):
        eval_cli(["eval", "perplexity", "--checkpoint", str(tmp_path), "--text", "x"])
    with pytest.raises(UsageError, match="give --manifest"):
        eval_cli(["eval", "perplexity", "--checkpoint", str(trained_run)])
    with pytest.raises(UsageError, match="--stride must be between 1 and --seq-len"):
        eval_cli(["eval", "perplexity", "--checkpoint", str(trained_run), "--manifest",
                  str(manifest_of(trained_run)), "--stride", "65"])
    with pytest.raises(UsageError, match="was tokenized with 1000 ids, the model has 999"):
        next(manifest_documents(manifest_of(trained_run), 999))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        eval_cli(["eval", "perplexity", "--checkpoint", str(trained_run), "--text", str(tmp_path / "latin1.txt")])
    assert ccrefine(["train-tokenizer", "--input", str(trained_run.parent / "corpus"), "--output",
                     str(tmp_path / "small"), "--vocab-size", "800", "--threads", "1"]) == 0
    with pytest.raises(UsageError, match="has 800 ids but the model has 1000"):
        load_for_eval(trained_run, tmp_path / "small", "cpu")
