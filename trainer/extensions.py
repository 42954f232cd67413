"""DeepSpeed's JIT-compiled C++ ops: none is built on CPU, and the ones a GPU run needs cannot hang later runs.

On the CPU accelerator, DeepSpeed's TorchBackend (deepspeed/comm/torch.py, `build_shm_op`) compiles its
shared-memory all-reduce op `deepspeed_shm_comm` (ShareMemCommBuilder: csrc/cpu/comm/shm.cpp) every time the
process group starts. Only `inference_all_reduce` uses it (AutoTP tensor-parallel layers), which the trainer
never calls, so the op is marked incompatible first: DeepSpeed then skips it, as on a machine that cannot build
it, and every collective goes through torch.distributed (gloo).

Ops a run does need (FusedAdam on a GPU unless prebuilt, CPUAdam for ZeRO-Offload) are built by
torch.utils.cpp_extension in TORCH_EXTENSIONS_DIR/<op>, serialised by an empty `lock` file that the building
process holds open. A build killed midway leaves the lock behind, and every later build of that op waits on it
forever; environments sharing the default folder rebuild the op whenever they alternate. So, unless
TORCH_EXTENSIONS_DIR is set, each environment (interpreter, torch, DeepSpeed, host) builds into its own folder,
a lock that no process holds open is removed with a warning, and a build or a wait in progress is logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import deepspeed
import psutil
import torch

logger = logging.getLogger(__name__)

SHM_COMM_OP = "deepspeed_shm_comm"  # ShareMemCommBuilder.NAME
REPORT_EVERY_S = 30.0


def extensions_folder() -> tuple[Path, bool]:
    """(folder, chosen here): TORCH_EXTENSIONS_DIR as the user set it, else a folder of this environment's own."""
    environment = "|".join([sys.prefix, sys.executable, torch.__version__, deepspeed.__version__,
                            socket.gethostname()])
    key = hashlib.sha256(environment.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    own = cache / "ccrefine" / "torch_extensions" / f"py{sys.version_info.major}{sys.version_info.minor}-{key}"
    configured = os.environ.get("TORCH_EXTENSIONS_DIR")
    if configured and configured != str(own):  # not the one an earlier run in this process set
        return Path(configured), False
    return own, True


def lock_holders(lock: Path) -> list[int]:
    """Processes on this host that hold `lock` open (the builder keeps its lock file open while it builds)."""
    target = str(lock.resolve())
    holders = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if any(file.path == target for file in process.open_files()):
                holders.append(process.pid)
    return holders


def remove_stale_locks(folder: Path) -> list[Path]:
    """Remove the build locks in `folder` that no process holds open; returns the ones removed."""
    removed = []
    for lock in sorted(folder.glob("*/lock")):
        if not lock_holders(lock):
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
                removed.append(lock)
                logger.warning("removed the stale build lock %s: the process that was compiling DeepSpeed's %s op "
                               "is gone (killed mid-build); the next build of it starts afresh", lock, lock.parent.name)
    return removed


def prepare_extension_builds(device: torch.device) -> tuple[Path, bool]:
    """Before DeepSpeed starts: skip the op the trainer does not use, choose the build folder, clear stale locks.
    Returns (the build folder, whether it was chosen here)."""
    if device.type == "cpu":
        import deepspeed.ops

        deepspeed.ops.__compatible_ops__[SHM_COMM_OP] = False
    folder, chosen_here = extensions_folder()
    if chosen_here:
        os.environ["TORCH_EXTENSIONS_DIR"] = str(folder)
        remove_stale_locks(folder)
    else:
        # A folder the user chose may be shared with other hosts, whose builders this host cannot see.
        for lock in sorted(folder.glob("*/lock")):
            if not lock_holders(lock):
                logger.warning("%s is held by no process on this host; if no build of it runs on another host "
                               "either, delete it, or this run waits for it forever", lock)
    return folder, chosen_here


@contextlib.contextmanager
def watching_builds(folder: Path, chosen_here: bool) -> Iterator[None]:
    """While DeepSpeed starts: every REPORT_EVERY_S, log each op build under way in `folder`, and in a folder
    chosen here remove a lock whose builder died while this run waited on it."""
    done = threading.Event()

    def report() -> None:
        while not done.wait(REPORT_EVERY_S):
            for lock in sorted(folder.glob("*/lock")):
                holders = lock_holders(lock)
                if os.getpid() in holders:
                    logger.warning("compiling DeepSpeed's %s op into %s (once per environment)", lock.parent.name,
                                   lock.parent)
                elif holders:
                    logger.warning("waiting for process %s, which is compiling DeepSpeed's %s op (%s)",
                                   ", ".join(map(str, holders)), lock.parent.name, lock)
                elif chosen_here:
                    remove_stale_locks(folder)

    watcher = threading.Thread(target=report, name="extension-builds", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
