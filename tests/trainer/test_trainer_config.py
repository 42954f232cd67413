"""The train config and the command line: every input a user can get wrong is one clear error, raised before
DeepSpeed starts (no run folder is written)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
from ccrefine.trainer.cli import main, register, without_local_rank
from ccrefine.trainer.config import config_from_dict, load_train_config

from ccrefine.errors import UsageError


def run(config_path, *flags: str) -> int:
    parser = argparse.ArgumentParser(prog="ccrefine")
    register(parser.add_subparsers(dest="command", required=True))
    args, beam_args = parser.parse_known_args(["train", "--config", str(config_path), *flags])
    return args.handler(args, beam_args)


def test_config_loads_with_overrides(synthetic_manifest, tmp_path, make_config, write_config):
    path = write_config(tmp_path / "train.yaml", make_config(synthetic_manifest, tmp_path / "run"))
    config = load_train_config(path, ["train.steps=7", "optimizer.betas=[0.9, 0.99]", "schedule.kind=wsd"])
    assert (config.train.steps, config.optimizer.betas, config.schedule.kind) == (7, (0.9, 0.99), "wsd")
    assert config.total_steps == 7 and config.data.seq_len == 32


@pytest.mark.parametrize(("change", "message"), [
    ({"train": {"stpes": 3}}, r"train: unknown key\(s\) stpes; valid keys: steps, "),
    ({"train": {"steps": "ten"}}, "train.steps: expected an integer, got the string 'ten'"),
    ({"train": {"precision": "fp16"}}, "train.precision: must be one of auto, bf16, fp32; got 'fp16'"),
    ({"train": {"zero_stage": 4}}, "train.zero_stage must be 0, 1, 2 or 3"),
    ({"model": {"preset": "llama-13b"}}, "model: preset 'llama-13b' is not a preset"),
    ({"model": {"overrides": {"n_layer": 2}}}, r"model: overrides: unknown ModelConfig keys \['n_layer'\]"),
    ({"schedule": {"warmup_steps": 50}}, r"warmup_steps \(50\) must be below"),
    ({"data": {"manifest": ""}}, r"data.manifest \(the tokenize output's manifest.json\) is required"),
])
def test_bad_config_values_are_named(synthetic_manifest, tmp_path, make_config, change, message):
    with pytest.raises(UsageError, match=message):
        config_from_dict(make_config(synthetic_manifest, tmp_path / "run", **change))


BAD_INPUTS = {
    "vocabulary": ({"model": {"preset": "llama-tiny", "overrides": {"vocab_size": 100}}},
                   "vocab_size is 100 but the tokenizer .* has 64 ids"),
    "seq_len": ({"data": {"seq_len": 512}}, "data.seq_len 512 exceeds the model's max_seq_len 256"),
    "batch": ({"train": {"micro_batch_size": 3, "global_batch_size": 4}},
              r"global_batch_size 4 is not a multiple of micro_batch_size 3 x 1 data-parallel rank\(s\); "
              r"micro_batch_size can be one of \[1, 2, 4\]"),
    "deepspeed_optimizer": ({"deepspeed": {"optimizer": {"type": "Adam"}}}, "'optimizer' is set by the trainer"),
    "deepspeed_batch": ({"deepspeed": {"train_batch_size": 6}}, "train_batch_size 6 != micro batch 2"),
    "deepspeed_file": ({"deepspeed": "missing.json"}, "the DeepSpeed config 'missing.json' does not exist"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_fail_before_the_first_step(synthetic_manifest, tmp_path, make_config, write_config, case):
    sections, message = BAD_INPUTS[case]
    output = tmp_path / "run"
    config = make_config(synthetic_manifest, output, **sections)
    with pytest.raises(UsageError, match=message):
        run(write_config(tmp_path / "train.yaml", config))
    assert not output.exists()


def test_damaged_shards_and_short_sources_fail_before_the_first_step(synthetic_manifest, tmp_path, make_config,
                                                                      write_config, shard_writer, documents):
    shards = tmp_path / "shards"
    shutil.copytree(synthetic_manifest.parent, shards)
    (shards / "train/books/part-00000-000.idx").write_bytes(b"CCRTKIDX")
    path = write_config(tmp_path / "train.yaml", make_config(shards / "manifest.json", tmp_path / "run"))
    with pytest.raises(UsageError, match="part-00000-000.idx: too short for a token shard index"):
        run(path)
    rng = np.random.default_rng(0)
    short = shard_writer(tmp_path / "short", {"web": {"weight": 1.0, "train": documents(rng, 50, 1)},
                                              "books": {"weight": 1.0, "train": [np.array([5, 6, 2], np.uint16)]}})
    path = write_config(tmp_path / "train.yaml", make_config(short, tmp_path / "run"))
    with pytest.raises(UsageError, match="source books has 3 training tokens, fewer than one window"):
        run(path)
    # Validation is asked for but the manifest holds no validation split.
    path = write_config(tmp_path / "train.yaml", make_config(short, tmp_path / "run", eval={"interval": 5},
                                                             data={"manifest": str(short), "seq_len": 2}))
    with pytest.raises(UsageError, match="validation split .* holds 0 window"):
        run(path)
    assert not (tmp_path / "run").exists()


def test_the_command_line_prints_one_message(synthetic_manifest, tmp_path, make_config, write_config, capsys):
    path = write_config(tmp_path / "train.yaml", make_config(synthetic_manifest, tmp_path / "run"))
    assert main(["train", "--config", str(path), "--set", "train.micro_batch_size=3"]) == 2
    assert capsys.readouterr().err.startswith("ccrefine train: error: train.global_batch_size 4 is not a multiple")
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml does not exist; check the path" in capsys.readouterr().err
    assert main(["train", "--config", str(path), "--bogus"]) == 2
    assert "unknown flag(s) --bogus" in capsys.readouterr().err
    assert main(["train", "--config", str(path), "--set", "train"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_the_example_config_is_valid():
    config = load_train_config(Path(__file__).resolve().parents[2] / "deploy/slurm/llama-125m.yaml")
    assert (config.model.preset, config.data.seq_len, config.train.global_batch_size) == ("llama-125m", 2048, 256)


def test_the_launchers_local_rank_flag_is_dropped():
    assert without_local_rank(["--local_rank=1", "--x", "--local-rank", "0", "y"]) == ["--x", "y"]


@pytest.mark.parametrize(("change", "message"), [
    ({"optimizer": {"lr": float("inf")}}, "optimizer.lr: must be a finite number, got inf"),
    ({"optimizer": {"eps": float("inf")}}, "optimizer.eps: must be a finite number, got inf"),
    ({"optimizer": {"betas": [0.9, float("nan")]}}, r"optimizer.betas\[1\]: must be a finite number, got nan"),
    ({"train": {"grad_clip": float("nan")}}, "train.grad_clip: must be a finite number"),
    ({"schedule": {"total_steps": 0}}, "schedule.total_steps must be at least 1, or null for train.steps; got 0"),
    ({"train": {"steps": True}}, "train.steps: expected a number, got True"),
    ({"optimizer": {"betas": [0.9]}}, "optimizer.betas: expected a list of 2 values"),
    ({"data": {"manifest": ["a"]}}, "data.manifest: expected a string, got a list"),
    ({"deepspeed": 5}, "deepspeed: expected a mapping or a string; got 5"),
    ({"log": {"peak_tflops": -1.0}}, "log.peak_tflops must be positive"),
    ({"model": {"overrides": {"rope_theta": float("inf")}}}, "model.overrides.rope_theta: must be a finite number"),
    ({"model": {"overrides": {"n_layers": True}}}, "model.overrides.n_layers: expected a number, got True"),
])
def test_non_finite_and_wrongly_typed_values_are_named(synthetic_manifest, tmp_path, make_config, change, message):
    with pytest.raises(UsageError, match=message):
        config_from_dict(make_config(synthetic_manifest, tmp_path / "run", **change))


@pytest.mark.parametrize(("text", "message"), [
    ("output: !!python/object/apply:os.system ['true']\n", "line 1, column 9: the tag '!!python/object/apply:os.system'"
     " is not allowed"),
    ("train: {steps: 3\n", "not valid YAML"),
    ("- a list\n", "expected a mapping of sections"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\noutput: *e\n", "aliases (*name) expand the document beyond"),
])
def test_train_config_files_that_cannot_be_read(tmp_path, text, message):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as error:
        load_train_config(path)
    assert message in str(error.value) and str(error.value).startswith(f"train config {path}")


def test_set_values_are_parsed_with_the_same_bounds(synthetic_manifest, tmp_path, make_config, write_config):
    path = write_config(tmp_path / "train.yaml", make_config(synthetic_manifest, tmp_path / "run"))
    with pytest.raises(UsageError, match="--set optimizer.lr, line 1, column 1: the tag '!!python/name:os.system'"):
        load_train_config(path, ["optimizer.lr=!!python/name:os.system ''"])
    with pytest.raises(UsageError, match="optimizer.lr: must be a finite number, got inf"):
        load_train_config(path, ["optimizer.lr=.inf"])
