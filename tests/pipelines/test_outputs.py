"""The output contract (pipelines/outputs.py) on real runs: staging and _SUCCESS, refusing a complete output
unless --overwrite, replacing it whole, readers refusing unfinished folders, leftovers cleaned up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ccrefine.pipelines.cli import main
from ccrefine.pipelines.outputs import write_success

from ccrefine.files import SUCCESS, success_problem

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]


def _corpus(sample_warc, output: Path, *extra: str) -> int:
    return main(["corpus", "--input", str(sample_warc), "--output", str(output), *extra, *IN_MEMORY])


@pytest.fixture(scope="module")
def complete(sample_corpus) -> Path:
    return sample_corpus  # the session's multilingual run of the sample (tests/conftest.py); read, never changed


def test_a_complete_output_ends_with_success_naming_the_stats_hash(complete):
    marker = json.loads((complete / SUCCESS).read_text())
    assert marker["file"] == "stats.json" and success_problem(str(complete)) is None
    assert not list(complete.parent.glob(".*staging*"))  # published: nothing left beside it
    assert not list(complete.rglob("*.tmp"))


def test_a_complete_output_is_refused_then_replaced_whole_with_overwrite(sample_warc, sample_corpus, tmp_path,
                                                                         capsys):
    output = tmp_path / "corpus"
    shutil.copytree(sample_corpus, output)  # a complete multilingual output
    languages = {p.name for p in (output / "documents").iterdir()}
    assert len(languages) > 1  # the sample has English, Chinese, French... pages
    assert _corpus(sample_warc, output, "--recipe", "refinedweb") == 2
    assert "holds a complete output already; add --overwrite" in capsys.readouterr().err
    assert _corpus(sample_warc, output, "--recipe", "refinedweb", "--overwrite") == 0
    assert {p.name for p in (output / "documents").iterdir()} == {"lang=en"}  # nothing of the first run is left
    stats = json.loads((output / "stats.json").read_text())
    rows = sum(pq.read_metadata(path).num_rows for path in output.rglob("*.parquet"))
    assert stats["recipe"] == "refinedweb" and rows == stats["records_in"]  # every row written by this run


def _damage(complete: Path, tmp_path: Path, how: str) -> Path:
    damaged = tmp_path / how
    subprocess.run(["cp", "-r", str(complete), str(damaged)], check=True)
    if how == "no-success":
        (damaged / SUCCESS).unlink()
    elif how == "empty-stats":  # what a full disk can leave
        (damaged / "stats.json").write_bytes(b"")
    return damaged


@pytest.mark.parametrize("how", ["no-success", "empty-stats"])
def test_every_reader_refuses_an_unfinished_folder(complete, tmp_path, capsys, how):
    damaged = _damage(complete, tmp_path, how)
    commands = [
        ["dedup", "--input", str(damaged), "--output", str(tmp_path / "dedup")],
        ["train-tokenizer", "--input", str(damaged), "--output", str(tmp_path / "tok"), "--vocab-size", "300"],
        ["tokenize", "--input", str(damaged), "--output", str(tmp_path / "tokens"), "--tokenizer",
         str(tmp_path / "missing.model")],
        ["report", str(damaged)],
        ["dedup", "--input", str(damaged / "documents" / "lang=en" / "*.parquet"), "--output", str(tmp_path / "d2")],
    ]
    for argv in commands:
        assert main(argv) == 2, argv
        error = capsys.readouterr().err
        assert "is not a complete ccrefine output" in error and "rerun the command that writes it" in error, argv
    assert not (tmp_path / "dedup").exists() and not (tmp_path / "tok").exists()


def test_a_tokenizer_folder_without_success_is_refused(tmp_path, capsys):
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.model").write_bytes(b"not finished")
    assert main(["tokenize", "--input", str(tmp_path), "--output", str(tmp_path / "t"), "--tokenizer",
                 str(tmp_path / "tok")]) == 2
    assert "--tokenizer" in capsys.readouterr().err


def test_a_folder_ccrefine_did_not_write_is_never_replaced(sample_warc, tmp_path, capsys):
    output = tmp_path / "mine"
    output.mkdir()
    (output / "notes.txt").write_text("keep me")
    for extra in ([], ["--overwrite"]):
        assert _corpus(sample_warc, output, *extra) == 2
        assert "holds files that are not a ccrefine output; choose a new folder" in capsys.readouterr().err
    assert (output / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_progress_folders_and_partial_files_are_removed(sample_warc, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix=f"ccrefine-progress-{dead.pid}-"))
    staging = tmp_path / ".corpus.ccrefine-staging"
    output = tmp_path / "corpus"
    # A killed run of the same command left its staging folder with a partial shard.
    assert main(["corpus", "--input", str(sample_warc), "--output", str(output),
                 "--direct_num_workers", "1"]) == 0
    (output / "_SUCCESS").unlink()
    os.replace(output, staging)
    (staging / "run.json").write_text(json.dumps({"other": "run"}))
    (staging / "documents" / "lang=en" / ".part.parquet.0123.tmp").write_bytes(b"half")
    assert main(["corpus", "--input", str(sample_warc), "--output", str(output), "--overwrite",
                 "--direct_num_workers", "1"]) == 0
    assert not stale.exists()
    assert not list(Path(tempfile.gettempdir()).glob(f"ccrefine-progress-{os.getpid()}-*"))
    assert not staging.exists() and not list(output.rglob("*.tmp"))


def test_a_summary_cut_short_is_never_marked_complete(tmp_path):
    (tmp_path / "stats.json").write_bytes(b"")  # what a full disk leaves
    with pytest.raises(ValueError):
        write_success(str(tmp_path), "stats.json")
    assert not (tmp_path / SUCCESS).exists()
