"""Fixtures for eval tests: a real tiny training on the sample corpus (two checkpoints), the eval command line,
and the lm-eval hub switched off.

Everything is made by the project's own commands (corpus, train-tokenizer, tokenize) and the trainer, at toy
scale: a llama-tiny model, a 1000-piece tokenizer, 64-token windows, 40 steps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SEQ_LEN = 64


@pytest.fixture(scope="module")
def offline_hub():
    """No Hugging Face hub: the variables users set, and the constants datasets / huggingface_hub read them into
    at import (which may have happened before these tests)."""
    import datasets
    import huggingface_hub.constants

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_OFFLINE", "1")
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield


@pytest.fixture(scope="session")
def eval_cli() -> Callable[[list[str]], int]:
    """`ccrefine ARGV` with a user's mistake raised as UsageError, for the eval commands."""
    from ccrefine.pipelines.cli import run_command

    return run_command


@pytest.fixture(scope="session")
def trained_run(sample_shards) -> Path:
    """The sample's real shards (20% held out) -> 40 training steps, checkpoints at steps 20 and 40. Returns the
    run folder; its manifest is ../tokens/manifest.json and its corpus ../corpus."""
    from ccrefine.trainer.config import config_from_dict
    from ccrefine.trainer.run import train

    root = sample_shards
    train(config_from_dict({
        "output": str(root / "run"), "model": {"preset": "llama-tiny"},
        "data": {"manifest": str(root / "tokens" / "manifest.json"), "seq_len": SEQ_LEN},
        "train": {"steps": 40, "micro_batch_size": 4, "global_batch_size": 4}, "optimizer": {"lr": 3e-3},
        "checkpoint": {"interval": 20, "keep": 2}, "eval": {"interval": 0},
        "log": {"interval": 10, "tensorboard": False, "progress": False}}))
    return root / "run"
