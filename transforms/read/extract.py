"""Main-text extraction with trafilatura, guarded against pages that would crash or stall a worker.

lxml runs in C, so neither a signal nor a thread can interrupt a page that makes it spin: the only
reliable time limit is a separate process. `GuardedExtractor` keeps one extraction process per worker,
sends it one page at a time, and kills and restarts it when a page overruns its time limit. Oversized
pages never reach it.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from ccrefine.transforms.records import Document, Page
from ccrefine.transforms.step import Step, Verdict

_LENGTH = struct.Struct("<Q")
_STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ExtractOptions:
    favor_precision: bool = True  # RefinedWeb / FineWeb favour precision over recall
    include_comments: bool = False
    include_tables: bool = True
    timeout_s: float = 5.0  # per page, wall clock
    max_html_chars: int = 2_000_000  # larger pages are skipped, not parsed

    def __post_init__(self):
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.max_html_chars <= 0:
            raise ValueError(f"max_html_chars must be positive, got {self.max_html_chars}")


def extract_main_text(html: str, url: str, options: ExtractOptions) -> str | None:
    """The main text of a page as trafilatura sees it, or None when it finds none."""
    import trafilatura  # imported here: only the extraction process pays for it

    return trafilatura.extract(
        html,
        url=url or None,
        favor_precision=options.favor_precision,
        include_comments=options.include_comments,
        include_tables=options.include_tables,
        include_images=False,
        # trafilatura's own dedup keeps a cache across pages: results would depend on page order.
        deduplicate=False,
        with_metadata=False,
    )


class ExtractionFailed(Exception):
    """An extraction that ran out of time or raised; `reason` is `timeout` or `error`."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class GuardedExtractor:
    """Runs `extract_main_text` in a child process with a per-page time limit."""

    def __init__(self, options: ExtractOptions):
        self.options = options
        self._process: subprocess.Popen | None = None

    def extract(self, html: str, url: str) -> str | None:
        process = self._ensure_process()
        _write_message(process.stdin, (html, url))
        deadline = time.monotonic() + self.options.timeout_s
        try:
            status, value = _read_message(process.stdout, deadline)
        except TimeoutError:
            self.close()
            raise ExtractionFailed("timeout") from None
        except EOFError:
            self.close()  # the process died (e.g. a crash in C code): start a fresh one next time
            raise ExtractionFailed("error", "extraction process died") from None
        if status != "ok":
            raise ExtractionFailed("error", value)
        return value

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def _ensure_process(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "ccrefine.transforms.read.extract", json.dumps(asdict(self.options))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            # Start-up (importing trafilatura) must not count against the first page's time limit.
            status, detail = _read_message(self._process.stdout, time.monotonic() + _STARTUP_TIMEOUT_S)
            if status != "ready":
                raise RuntimeError(f"the extraction process failed to start: {detail}")
        return self._process

    def __del__(self):
        self.close()


def _write_message(pipe, value) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(_LENGTH.pack(len(data)) + data)
    pipe.flush()


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_message(pipe, deadline: float | None):
    fd = pipe.fileno()
    (size,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size, deadline))
    return pickle.loads(_read_exactly(fd, size, deadline))


def _serve(options: ExtractOptions) -> None:
    """The child's loop: one (html, url) in, one (status, text-or-error) out, until stdin closes."""
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the reply stream
    import trafilatura  # noqa: F401 - loaded before "ready", so start-up is not charged to a page

    _write_message(stdout, ("ready", None))
    while True:
        try:
            html, url = _read_message(stdin, None)
        except EOFError:
            return
        try:
            reply = ("ok", extract_main_text(html, url, options))
        except Exception as exc:  # noqa: BLE001 - any failure on one page is that page's rejection
            reply = ("error", f"{type(exc).__name__}: {exc}")
        _write_message(stdout, reply)


class ExtractionStep(Step):
    """Page -> Document: WET text passes through, HTML goes through the guarded extractor."""

    stage = "extract"

    def __init__(self, options: ExtractOptions = ExtractOptions()):
        self.options = options
        self._extractor: GuardedExtractor | None = None

    def setup(self) -> None:
        self._extractor = GuardedExtractor(self.options)

    def teardown(self) -> None:
        if self._extractor is not None:
            self._extractor.close()

    def judge(self, page: Page) -> Verdict:
        text = page.text
        if text is None:
            if len(page.html) > self.options.max_html_chars:
                return Verdict(page, "too_large")
            try:
                text = self._extractor.extract(page.html, page.url)
            except ExtractionFailed as failure:
                return Verdict(page, failure.reason)
        if not text or not text.strip():
            return Verdict(page, "empty")
        document = Document(
            id=page.id, url=page.url, date=page.date, dump=page.dump, text=text, source=page.source, offset=page.offset,
            scores={"extract.chars": float(len(text))},  # the length before any filter: the report's "before"
        )
        return Verdict(document)


if __name__ == "__main__":
    _serve(ExtractOptions(**json.loads(sys.argv[1])))
