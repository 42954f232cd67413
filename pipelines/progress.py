"""Progress of a local run, printed every few seconds so a long run never looks hung."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from ccrefine.transforms.progress import summarise

PREFIX = "ccrefine-progress-"


@contextlib.contextmanager
def progress_folder():
    """A temporary folder for progress files, named after this process and removed when the run ends; folders of
    runs whose process is gone (killed) are removed first."""
    root = Path(tempfile.gettempdir())
    for stale in root.glob(f"{PREFIX}*"):
        pid = stale.name[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class ProgressPrinter:
    """Prints `files done/total, records, pages, elapsed` every `interval` seconds until stopped."""

    def __init__(self, folder: str, total_files: int, interval: float = 5.0, emit=print):
        self.folder, self.total_files, self.interval, self.emit = folder, total_files, interval, emit
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def line(self) -> str:
        done = summarise(self.folder)
        elapsed = int(time.monotonic() - self._started)
        return (
            f"[{elapsed // 60:d}:{elapsed % 60:02d}] files {done['files']}/{self.total_files}, "
            f"records {done['records']}, pages {done['pages']}"
        )

    def _run(self):
        while not self._stop.wait(self.interval):
            self.emit(self.line(), flush=True)
