"""Fixtures shared by every suite: where the shared third-party test data lives, and the sample WARC."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent

# Hypothesis' default 200 ms deadline per example is a wall-clock margin: on a loaded machine any example can miss
# it. Tests that bound the number of examples still do so with their own @settings.
settings.register_profile("ccrefine", deadline=None)
settings.load_profile("ccrefine")


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core machine: a second OpenMP thread only waits for the other processes' cores
    (a tiny model's training steps ran 10x slower with two); trainer subprocesses get OMP_NUM_THREADS=1 too."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)


def shared_data_dir() -> Path | None:
    candidate = Path(os.environ.get("CCREFINE_SHARED_DATA", REPO.parent / "shared" / "data"))
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $CCREFINE_SHARED_DATA); tests that need it skip when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("shared test data not found: set CCREFINE_SHARED_DATA or put it at ../shared/data")
    return path


@pytest.fixture(scope="session")
def sample_warc(tmp_path_factory) -> Path:
    """The WARC `ccrefine sample` writes, made once per test session."""
    from ccrefine.pipelines.sample import write_sample_warc

    path = tmp_path_factory.mktemp("sample") / "sample.warc.gz"
    write_sample_warc(str(path))
    return path


IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]


@pytest.fixture(scope="session")
def sample_corpus(sample_warc, tmp_path_factory) -> Path:
    """The sample WARC through `ccrefine corpus --recipe multilingual` (English and Chinese documents), made once
    per session for every suite that reads a corpus (tests must not write into it)."""
    from ccrefine.pipelines.cli import main

    output = tmp_path_factory.mktemp("sample_shards") / "corpus"
    assert main(["corpus", "--input", str(sample_warc), "--output", str(output), "--recipe", "multilingual",
                 *IN_MEMORY]) == 0
    return output


@pytest.fixture(scope="session")
def sample_shards(sample_corpus) -> Path:
    """The sample corpus through `train-tokenizer` (1000 pieces) and `tokenize` (20% held out): the corpus's folder,
    with corpus/, tokenizer/ and tokens/manifest.json, made once per session."""
    from ccrefine.pipelines.cli import main

    root = sample_corpus.parent
    assert main(["train-tokenizer", "--input", str(sample_corpus), "--output", str(root / "tokenizer"),
                 "--vocab-size", "1000", "--threads", "2"]) == 0
    assert main(["tokenize", "--input", str(sample_corpus), "--output", str(root / "tokens"), "--tokenizer",
                 str(root / "tokenizer"), "--val-fraction", "0.2", *IN_MEMORY]) == 0
    return root
