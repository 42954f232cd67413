"""A corpus run over many archives killed with SIGKILL at several points, rerun with the same command, skips the
archives already complete and ends byte-identical to an uninterrupted run; a rerun with another recipe is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ccrefine.pipelines.cli import main
from ccrefine.pipelines.inputs import tagged_copy

from ccrefine.files import SUCCESS
from tests.processes import HANG_GUARD_S

pytestmark = pytest.mark.slow  # corpus runs over six archives killed with SIGKILL and resumed

REPO = Path(__file__).resolve().parents[2]
COPIES = 3


@pytest.fixture(scope="module")
def archives(shared_data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("archives")
    for source in sorted((shared_data / "warc").glob("dolma_sample-*.warc.gz")):
        for copy in range(COPIES):
            tagged_copy(source, folder / f"{source.name.split('.')[0]}-copy{copy}.warc.gz")
    return folder


def _command(archives: Path, output: Path) -> list[str]:
    return ["corpus", "--input", str(archives / "*.warc.gz"), "--output", str(output), "--direct_num_workers", "2"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _kill_when(command: list[str], staging: Path, done: int) -> int:
    """Start the command in its own process group; SIGKILL the group once `done` archives are complete (0: as soon
    as the run has started). Returns how many were complete when it died."""
    run = subprocess.Popen([sys.executable, "-m", "ccrefine.pipelines.cli", *command], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = staging / ("run.json" if done == 0 else "archives")
    deadline = time.monotonic() + HANG_GUARD_S
    while run.poll() is None and time.monotonic() < deadline:
        if marker.exists() and (done == 0 or len(list(marker.glob("*.json"))) >= done):
            break
        time.sleep(0.05)
    assert run.poll() is None, "the run finished before it could be killed"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    return len(list((staging / "archives").glob("*.json")))


def test_killed_runs_resume_to_byte_identical_output(archives, tmp_path):
    reference = tmp_path / "reference"
    assert main(_command(archives, reference)) == 0

    output = tmp_path / "resumed"
    staging = tmp_path / ".resumed.ccrefine-staging"
    complete = [_kill_when(_command(archives, output), staging, done) for done in (0, 1, 3)]
    assert complete[-1] >= 3 and not output.exists()  # a killed run never leaves something that looks complete
    assert main(["dedup", "--input", str(staging), "--output", str(tmp_path / "d")]) == 2  # nor can it be read
    assert main(_command(archives, output)) == 0
    assert (output / SUCCESS).exists() and not staging.exists()
    assert _files(output) == _files(reference)


def test_a_resume_with_another_recipe_is_refused(archives, tmp_path, capsys):
    output = tmp_path / "out"
    staging = tmp_path / ".out.ccrefine-staging"
    _kill_when(_command(archives, output), staging, 0)
    assert main([*_command(archives, output), "--recipe", "multilingual"]) == 2
    error = capsys.readouterr().err
    assert "holds an unfinished run with another recipe" in error and "--overwrite to discard it" in error
