"""Fixtures for trainer tests: token shards written here with numpy (two sources, learnable documents) or made
from the sample corpus by the real pipeline, tiny train configs, and launching the trainer as real processes.

Trainings run either in this process (a one-rank gloo group, created once and kept) or as subprocesses whose
environment is cleaned of the in-process group's RANK / MASTER_PORT variables.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ccrefine.pipelines.outputs import write_success
from ccrefine.transforms.tokens.shards import build_manifest, cut_into_shards, write_token_shard

from tests.processes import HANG_GUARD_S, subprocess_env

REPO = Path(__file__).resolve().parents[2]
VOCAB = 64
EOD = 2


def learnable_documents(rng: np.random.Generator, count: int, stride: int) -> list[np.ndarray]:
    """Documents of arithmetic runs (token i+1 = token i + stride, mod the non-special ids) with some noise,
    each ending with EOD: a tiny model learns them in a few dozen steps."""
    documents = []
    for _ in range(count):
        length = int(rng.integers(8, 60))
        start = int(rng.integers(0, VOCAB - 4))
        tokens = 4 + (start + stride * np.arange(length)) % (VOCAB - 4)
        noise = rng.random(length) < 0.1
        tokens[noise] = rng.integers(4, VOCAB, noise.sum())
        documents.append(np.append(tokens, EOD).astype(np.uint16))
    return documents


def write_shards(folder: Path, sources: dict[str, dict[str, Any]], max_tokens: int = 1500,
                 vocab_size: int = VOCAB) -> Path:
    """sources: {name: {"weight": w, "train": [documents], "val": [documents]}} -> folder/manifest.json in the
    format `ccrefine tokenize` writes (several shards per source when it holds more than max_tokens)."""
    records = []
    for name, source in sources.items():
        for split in ("train", "val"):
            for piece, group in enumerate(cut_into_shards(source.get(split, []), max_tokens)):
                relative = f"{split}/{name}/part-00000-{piece:03d}"
                (folder / split / name).mkdir(parents=True, exist_ok=True)
                with open(folder / f"{relative}.bin", "wb") as bin_file, \
                        open(folder / f"{relative}.idx", "wb") as idx_file:
                    stats = write_token_shard(bin_file, idx_file, group, np.dtype("<u2"))
                records.append({"path": f"{relative}.bin", "split": split, "source": name, **asdict(stats)})
    settings = {"tokenizer": {"path": "tokenizer.model", "sha256": "-", "vocab_size": vocab_size, "special_ids": {}},
                "dtype": "uint16", "eod_id": EOD}
    described = {name: {"patterns": [name], "files": 1, "weight": source["weight"]} for name, source in sources.items()}
    manifest = build_manifest(records, described, {}, settings)
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2))
    write_success(str(folder), path.name)
    return path


@pytest.fixture(scope="session")
def synthetic_manifest(tmp_path_factory) -> Path:
    """Two sources mixed 3:1, 'web' spread over several shards, both with a validation split."""
    rng = np.random.default_rng(0)
    sources = {
        "web": {"weight": 3.0, "train": learnable_documents(rng, 300, 1), "val": learnable_documents(rng, 30, 1)},
        "books": {"weight": 1.0, "train": learnable_documents(rng, 60, 3), "val": learnable_documents(rng, 10, 3)},
    }
    return write_shards(tmp_path_factory.mktemp("synthetic"), sources)


@pytest.fixture(scope="session")
def sample_manifest(sample_shards) -> Path:
    """Real shards of the sample corpus (tests/conftest.py makes them once for every suite)."""
    return sample_shards / "tokens" / "manifest.json"


def tiny_config(manifest: Path, output: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """A tiny llama on CPU; `sections` update the defaults section by section."""
    config: dict[str, Any] = {
        "output": str(output),
        "model": {"preset": "llama-tiny"},
        "data": {"manifest": str(manifest), "seq_len": 32},
        "train": {"steps": 20, "micro_batch_size": 2, "global_batch_size": 4},
        "optimizer": {"lr": 3e-3},
        "schedule": {"warmup_steps": 2},
        "checkpoint": {"interval": 10, "keep": 2},
        "eval": {"interval": 0, "batches": 4},
        "log": {"interval": 1, "tensorboard": False, "progress": False},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values} if isinstance(values, dict) else values
    return config


@pytest.fixture(scope="session")
def make_config() -> Callable[..., dict[str, Any]]:
    return tiny_config


@pytest.fixture(scope="session")
def write_config() -> Callable[..., Path]:
    def write(path: Path, config: dict[str, Any]) -> Path:
        path.write_text(yaml.safe_dump(config))
        return path

    return write


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def launch() -> Callable[..., subprocess.Popen]:
    """Start `python -m ccrefine.trainer.cli train ARGS`, or under a launcher: `launcher` is the command up to the
    module name, e.g. [torchrun ..., "-m"] or [deepspeed ..., "--module"]."""

    def start(args: list[str], launcher: list[str] | None = None,
              env: dict[str, str | None] | None = None) -> subprocess.Popen:
        """`env` updates the environment; a None value removes the variable."""
        environment = subprocess_env()
        for key, value in (env or {}).items():
            environment.pop(key, None) if value is None else environment.update({key: value})
        command = [*(launcher or [sys.executable, "-m"]), "ccrefine.trainer.cli", "train", *args]
        return subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    return start


def finish(process: subprocess.Popen, returncode: int = 0) -> str:
    """Wait for a launched run; its output, after checking its exit code."""
    output, _ = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == returncode, output
    return output


def wait_until(process: subprocess.Popen, condition: Callable[[], bool]) -> bool:
    """Poll `condition` while the process runs; whether it came true before the process ended."""
    deadline = time.monotonic() + HANG_GUARD_S
    while process.poll() is None and time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture(scope="session")
def finished() -> Callable[..., str]:
    return finish


@pytest.fixture(scope="session")
def waiting() -> Callable[..., bool]:
    return wait_until


def read_metrics(output: Path, kind: str | None = "train") -> list[dict[str, Any]]:
    """The lines of one kind (None: all) of OUTPUT/metrics.jsonl, but a last line still being written."""
    path = output / "metrics.jsonl"
    lines = [json.loads(line) for line in path.read_text().split("\n")[:-1]] if path.is_file() else []
    return [line for line in lines if kind is None or line["kind"] == kind]


@pytest.fixture(scope="session")
def metrics() -> Callable[..., list[dict[str, Any]]]:
    return read_metrics


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def shard_writer() -> Callable[..., Path]:
    return write_shards


@pytest.fixture
def documents() -> Callable[..., list[np.ndarray]]:
    return learnable_documents
