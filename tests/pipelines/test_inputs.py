"""Inputs of a corpus run: an archive matched twice, or the same content under two names, is read once and
counted as a `read` drop; a literal file name wins over glob interpretation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from ccrefine.pipelines.cli import main
from ccrefine.pipelines.inputs import match_inputs, plan_archives

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]


def _documents(output: Path) -> list[tuple]:
    rows = ds.dataset(output / "documents", format="parquet", partitioning="hive").to_table().to_pylist()
    return sorted((row["id"], row["text"]) for row in rows)


@pytest.fixture(scope="module")
def once(shared_data, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("once") / "out"
    assert main(["corpus", "--input", str(shared_data / "warc" / "dolma_sample-0000.warc.gz"), "--output",
                 str(output), *IN_MEMORY]) == 0
    return output


def test_the_same_archive_matched_twice_gives_the_same_documents_as_once(once, shared_data, tmp_path):
    archive = shared_data / "warc" / "dolma_sample-0000.warc.gz"
    output = tmp_path / "twice"
    overlapping = ["--input", str(archive), "--input", str(shared_data / "warc" / "dolma_sample-0000.warc.g?")]
    assert main(["corpus", *overlapping, "--input", str(archive), "--output", str(output), *IN_MEMORY]) == 0
    assert _documents(output) == _documents(once)
    stats = json.loads((output / "stats.json").read_text())
    read = stats["stages"][0]
    assert read["dropped"]["duplicate_input"] == 2 and read["files"] == 1 and stats["problems"] == []
    assert [d["kind"] for d in stats["duplicate_inputs"]] == ["same path", "same path"]
    rejected = ds.dataset(output / "rejected" / "stage=read", format="parquet").to_table().to_pylist()
    assert [r["source"] for r in rejected if r["reason"] == "duplicate_input"] == [str(archive), str(archive)]


def test_the_same_content_under_another_name_is_read_once(once, shared_data, tmp_path):
    copy = tmp_path / "renamed.warc.gz"
    shutil.copy(shared_data / "warc" / "dolma_sample-0000.warc.gz", copy)
    output = tmp_path / "out"
    assert main(["corpus", "--input", str(shared_data / "warc" / "dolma_sample-0000.warc.gz"), "--input", str(copy),
                 "--output", str(output), *IN_MEMORY]) == 0
    assert _documents(output) == _documents(once)
    stats = json.loads((output / "stats.json").read_text())
    assert stats["duplicate_inputs"][0]["kind"] == "same content"
    assert stats["stages"][0]["dropped"]["duplicate_input"] == 1


def test_a_literal_path_wins_over_glob_interpretation(shared_data, tmp_path):
    real = tmp_path / "crawl[1].warc.gz"
    shutil.copy(shared_data / "warc" / "whirlwind.warc.gz", real)
    (tmp_path / "crawl1.warc.gz").write_bytes(b"what the glob would match")
    assert match_inputs([str(real)]) == [str(real)]
    (archive,), duplicates = plan_archives(match_inputs([str(real)]))
    assert duplicates == [] and archive.name.startswith("crawl_1_.warc-")  # safe in globs downstream


def test_output_names_do_not_depend_on_the_order_of_the_flags(shared_data):
    warcs = sorted(str(p) for p in (shared_data / "warc").glob("*.gz"))
    forward, _ = plan_archives(match_inputs(warcs))
    backward, _ = plan_archives(match_inputs(warcs[::-1]))
    assert forward == backward and len({a.name for a in forward}) == len(forward)
