"""`ccrefine dedup` over the real output of `ccrefine corpus` on the sample WARC (which holds a near-duplicate pair
of English pages): refined shards, rejected records naming the kept document, and a stats.json that adds up."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ccrefine.pipelines.cli import main
from ccrefine.pipelines.dedup import parser_with_dedup_command

from ccrefine.errors import UsageError

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]


def dedup(argv: list[str]) -> int:
    args, beam_args = parser_with_dedup_command().parse_known_args(["dedup", *argv])
    return args.handler(args, beam_args)


@pytest.fixture(scope="module")
def corpus(sample_warc, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("dedup") / "corpus"
    assert main(["corpus", "--input", str(sample_warc), "--output", str(output), "--recipe", "multilingual",
                 *IN_MEMORY]) == 0
    return output


def rows(folder: Path) -> list[dict]:
    return [row for path in sorted(folder.rglob("*.parquet")) for row in pq.read_table(path).to_pylist()]


def test_dedup_removes_the_near_duplicate_page(corpus, tmp_path):
    output = tmp_path / "refined"
    assert dedup(["--input", str(corpus), "--output", str(output), "--cc-rounds", "3", *IN_MEMORY]) == 0
    before, after = rows(corpus / "documents"), rows(output / "documents")
    rejected = rows(output / "rejected")
    assert len(after) == len(before) - 1 and len(rejected) == 1
    removed = rejected[0]
    kept_ids = {row["id"] for row in after}
    assert removed["stage"] == "dedup_minhash" and removed["reason"] == "duplicate" and removed["detail"] in kept_ids
    assert "sourdough" in removed["excerpt"].lower()
    survivor = next(row for row in after if row["id"] == removed["detail"])
    assert dict(survivor["scores"])["dedup.cluster_size"] == 2.0
    assert {path.parent.name for path in (output / "documents").rglob("*.parquet")} == {"lang=en", "lang=zh"}

    stats = json.loads((output / "stats.json").read_text())
    stages = ["dedup_exact", "dedup_minhash", "dedup_substrings", "dedup_urls"]
    assert [row["stage"] for row in stats["stages"]] == stages
    assert stats["problems"] == [] and stats["records_in"] == len(before) and stats["documents_out"] == len(after)
    assert stats["minhash"]["num_perm"] == 112 and stats["minhash"]["scheme"] == "affine32"
    assert stats["connected_components"]["converged"]


def test_steps_can_be_switched_off_and_shaped(corpus, tmp_path):
    output = tmp_path / "urls-only"
    assert dedup(["--input", str(corpus), "--output", str(output), "--no-minhash", "--no-substrings",
                  *IN_MEMORY]) == 0
    stats = json.loads((output / "stats.json").read_text())
    assert [row["stage"] for row in stats["stages"]] == ["dedup_exact", "dedup_urls"] and "minhash" not in stats


@pytest.mark.parametrize("argv, message", [
    (["--bands", "10"], "--bands and --rows together"),
    (["--keep", "random"], "keep must be"),
    (["--no-minhash", "--no-substrings", "--no-urls"], "switched off"),
    (["--min-substring-tokens", "1"], "min_tokens"),
    (["--lsh-partitions", "0"], "partitions must be at least 1"),
])
def test_usage_errors_name_the_fix(corpus, tmp_path, argv, message):
    with pytest.raises(UsageError, match=message):
        dedup(["--input", str(corpus), "--output", str(tmp_path / "x"), *argv, *IN_MEMORY])


def test_input_that_matches_nothing(tmp_path):
    with pytest.raises(UsageError, match="matches no Parquet file"):
        dedup(["--input", str(tmp_path / "missing"), "--output", str(tmp_path / "x"), *IN_MEMORY])
