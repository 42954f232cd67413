"""DeepSpeed's JIT-built ops: the CPU comm op is never built, a build lock left by a killed build is removed
(one still held by a live builder is not), and such a lock does not make the next `ccrefine train` wait."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import ccrefine.trainer.extensions as extensions
import pytest
import torch
from ccrefine.trainer.extensions import SHM_COMM_OP, extensions_folder, prepare_extension_builds, remove_stale_locks
from deepspeed.comm.torch import build_shm_op

from tests.processes import HANG_GUARD_S


def hold_open(path) -> subprocess.Popen:
    """A process that holds `path` open, as torch's builder holds its lock while it compiles."""
    holder = subprocess.Popen([sys.executable, "-c", f"import os, time; fd = os.open({str(path)!r}, os.O_RDONLY); "
                               "print('open', flush=True); time.sleep(3600)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "open\n"
    return holder


def test_deepspeed_builds_no_comm_op_on_cpu(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder, chosen_here = prepare_extension_builds(torch.device("cpu"))
    assert chosen_here and folder.is_relative_to(tmp_path / "ccrefine" / "torch_extensions")
    assert build_shm_op() is None  # DeepSpeed's own call when its TorchBackend starts: nothing is compiled
    assert not any(tmp_path.rglob(f"{SHM_COMM_OP}*"))


def test_only_locks_no_process_holds_are_removed(tmp_path, caplog):
    stale, held = tmp_path / "op_a" / "lock", tmp_path / "op_b" / "lock"
    for lock in (stale, held):
        lock.parent.mkdir()
        lock.touch()
    builder = hold_open(held)
    try:
        with caplog.at_level(logging.WARNING, logger="ccrefine.trainer.extensions"):
            assert remove_stale_locks(tmp_path) == [stale]
    finally:
        builder.kill()
        builder.wait()
    assert held.exists() and not stale.exists()
    assert f"removed the stale build lock {stale}: the process that was compiling DeepSpeed's op_a op is gone" in \
        caplog.text


def test_a_wait_on_a_build_is_logged_and_a_builder_dying_meanwhile_frees_it(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(extensions, "REPORT_EVERY_S", 0.01)
    lock = tmp_path / "fused_adam" / "lock"
    lock.parent.mkdir()
    lock.touch()
    builder = hold_open(lock)
    with (caplog.at_level(logging.WARNING, logger="ccrefine.trainer.extensions"),
          extensions.watching_builds(tmp_path, True)):
        deadline = time.monotonic() + HANG_GUARD_S
        while "waiting for process" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        builder.kill()
        builder.wait()
        while lock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert f"waiting for process {builder.pid}, which is compiling DeepSpeed's fused_adam op ({lock})" in caplog.text
    assert not lock.exists() and f"removed the stale build lock {lock}" in caplog.text


@pytest.mark.slow
def test_a_lock_left_by_a_killed_build_does_not_hang_the_next_run(synthetic_manifest, tmp_path, make_config,
                                                                  write_config, launch, finished, monkeypatch):
    """The issue's case: a lock under the cache folder torch uses by default, and one in this environment's own."""
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ours = extensions_folder()[0] / SHM_COMM_OP / "lock"
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    torch_default = tmp_path / "cache" / "torch_extensions" / f"{python}_cpu" / SHM_COMM_OP / "lock"
    for lock in (ours, torch_default):
        lock.parent.mkdir(parents=True)
        lock.touch()
    config = write_config(tmp_path / "run.yaml", make_config(synthetic_manifest, tmp_path / "run",
                                                             train={"steps": 2}, schedule={"warmup_steps": 0}))
    output = finished(launch(["--config", str(config)], env={"TORCH_EXTENSIONS_DIR": None,
                                                             "XDG_CACHE_HOME": str(tmp_path / "cache")}))
    assert "ccrefine train: 2 steps" in output and f"removed the stale build lock {ours}" in output
    assert not ours.exists()
