"""`ccrefine dedup` over the real output of `ccrefine corpus` on the sample WARC (which holds a near-duplicate pair
of English pages): refined shards, rejected records naming the kept document, a stats.json that adds up, and the
settings from --config with the flags typed on top, written back as dedup.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from ccrefine.pipelines.cli import parse_command, run_command
from ccrefine.pipelines.dedup import CONFIG_WHAT, DedupSettings, settings_from_args
from ccrefine.pipelines.settings_files import load_settings
from ccrefine.transforms.dedup.minhash import MinHashOptions

from ccrefine.errors import UsageError

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]
SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "configs" / "dedup-fineweb.yaml"


def dedup(argv: list[str]) -> int:
    return run_command(["dedup", *argv])


@pytest.fixture(scope="module")
def corpus(sample_corpus) -> Path:
    return sample_corpus  # the session's multilingual run of the sample (tests/conftest.py)


@pytest.fixture(scope="module")
def refined(corpus) -> Path:
    """The defaults, with connected components cut to 3 rounds by a flag."""
    output = corpus.parent / "refined"
    assert dedup(["--input", str(corpus), "--output", str(output), "--cc-rounds", "3", *IN_MEMORY]) == 0
    return output


def rows(folder: Path) -> list[dict]:
    return [row for path in sorted(folder.rglob("*.parquet")) for row in pq.read_table(path).to_pylist()]


def settings_for(argv: list[str]) -> DedupSettings:
    args, _ = parse_command(["dedup", "--input", "in", "--output", "out", *argv])
    return settings_from_args(args)


def test_dedup_removes_the_near_duplicate_page(corpus, refined):
    output = refined
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
    assert settings_for(["--config", str(output / "dedup.yaml")]) == DedupSettings(MinHashOptions(max_cc_rounds=3))


def test_flags_override_the_config_file_and_the_output_is_the_same(corpus, refined, tmp_path):
    config = tmp_path / "dedup.yaml"
    config.write_text("minhash:\n  bands: 20\n  rows: 5\n  keep: longest\n  max_cc_rounds: 9\nurls: off\n")
    flags = ["--minhash-preset", "fineweb", "--keep", "smallest-id", "--cc-rounds", "3", "--urls"]
    assert settings_for(["--config", str(config)]).minhash.keep == "longest"  # the file alone is honoured
    output = tmp_path / "refined"
    assert dedup(["--input", str(corpus), "--output", str(output), "--config", str(config), *flags, *IN_MEMORY]) == 0
    assert rows(output / "documents") == rows(refined / "documents")
    assert rows(output / "rejected") == rows(refined / "rejected")
    assert json.loads((output / "stats.json").read_text()) == json.loads((refined / "stats.json").read_text())
    assert (output / "dedup.yaml").read_text() == (refined / "dedup.yaml").read_text()


def test_shipped_config_is_the_defaults_and_presets_read_like_the_flag(tmp_path):
    shipped = load_settings(DedupSettings, str(SHIPPED_CONFIG), {}, CONFIG_WHAT)
    assert shipped == DedupSettings() == settings_for([])
    config = tmp_path / "refinedweb.yaml"
    config.write_text("minhash: {preset: refinedweb, ngram: 7}\nsubstrings: off\n")
    from_file = settings_for(["--config", str(config)])
    assert from_file == settings_for(["--minhash-preset", "refinedweb", "--ngram", "7", "--no-substrings"])
    assert (from_file.minhash.bands, from_file.minhash.rows, from_file.substrings) == (450, 20, None)
    assert settings_for(["--config", str(config), "--substrings"]).substrings == DedupSettings().substrings


@pytest.mark.parametrize("text, message", [
    ("minhash:\n  bands: -2\n", "minhash: bands and rows must be at least 1, got -2 x 8"),
    ("minhash: {keep: random}\n", "minhash: keep must be one of smallest-id, longest or score:<name>, got 'random'"),
    ("minhash: {ngram: five}\n", "minhash.ngram: expected an integer, got the string 'five'"),
    ("urls: [yes]\n", "urls: expected true or false, got a list"),
    ("substrings: {min_tokens: 1}\n", "substrings: need min_tokens >= 2"),
    ("minhash: {cc_rounds: 3}\n", "minhash: unknown key(s) cc_rounds; valid keys: bands, rows,"),
    ("dedup: {minhash: off}\n", "unknown key(s) dedup; valid keys: minhash, substrings, urls, shards"),
    ("- minhash\n", "expected a mapping of settings (minhash, substrings, urls, shards), got list"),
    ("minhash: {preset: datatrove}\n", "minhash.preset: unknown preset 'datatrove'; choose one of fineweb, refinedweb"),
    ("minhash: {preset: fineweb, bands: 3}\n", "minhash: give either preset or bands and rows, not both"),
    ("minhash: off\nsubstrings: off\nurls: off\n", "every dedup step is switched off"),
    ("shards: 0\n", "shards must be at least 1, got 0"),
])
def test_bad_config_files_name_the_file_and_the_key(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(UsageError) as error:
        dedup(["--input", str(tmp_path), "--output", str(tmp_path / "x"), "--config", str(config), *IN_MEMORY])
    assert str(error.value).startswith(f"dedup config {config}") and message in str(error.value)


def test_a_bad_flag_over_a_good_file_is_named_as_a_flag(tmp_path):
    config = tmp_path / "dedup.yaml"
    config.write_text(yaml.safe_dump({"minhash": {"keep": "longest"}}))
    with pytest.raises(UsageError, match=f"dedup config {config} with the flags given: minhash: partitions"):
        settings_for(["--config", str(config), "--lsh-partitions", "0"])


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
