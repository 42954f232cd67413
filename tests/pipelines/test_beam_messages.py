"""A plain `ccrefine corpus` run on the sample (the default multi-process DirectRunner, as a user types it) prints
none of the start-up warnings Beam logs for every local run; the filter drops exactly those messages."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from ccrefine.pipelines.beam_messages import WORKER_RELAY_LOGGER, KnownHarmlessWorkerMessages

KNOWN_HARMLESS = ("apitools not found", "semi_persistent_directory", "Discarding unparseable args",
                  "Logging handler created")


def ccrefine(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccrefine.pipelines.cli", *argv], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow  # a whole `ccrefine corpus` in a child process, multi-process runner
def test_a_plain_corpus_run_prints_no_beam_start_up_warnings(tmp_path):
    sample = tmp_path / "sample.warc.gz"
    assert ccrefine("sample", "--output", str(sample)).returncode == 0
    run = ccrefine("corpus", "--input", str(sample), "--output", str(tmp_path / "corpus"))
    assert run.returncode == 0 and "documents kept" in run.stdout
    assert [message for message in KNOWN_HARMLESS if message in run.stderr] == []
    assert run.stderr == ""


def relayed(message: str) -> logging.LogRecord:
    """A worker's log entry as the runner re-logs it (`Worker: <the LogEntry in text format>`)."""
    entry = f'severity: WARN timestamp {{   seconds: 1 }} message: "{message}" log_location: "x.py:1" thread: "1" '
    return logging.LogRecord(WORKER_RELAY_LOGGER, logging.WARNING, "x.py", 1, "Worker: %s", (entry,), None)


@pytest.mark.parametrize("message, shown", [
    ("No semi_persistent_directory found:  User registered objects ...", False),
    ("Discarding unparseable args: [\\'--pipeline_type_check\\', \\'--direct_runner_use_stacked_bundle\\']", False),
    ("Discarding unparseable args: [\\'--direct_runner_use_stacked_bundle\\', \\'--pipeline_type_check\\']", False),
    ("Discarding unparseable args: [\\'--pipeline_type_check\\', \\'--temp_locaton\\']", True),  # a user's typo
    ("Worker ran out of memory", True),
])
def test_only_the_known_messages_are_dropped(message, shown):
    assert KnownHarmlessWorkerMessages().filter(relayed(message)) is shown
