"""The corpus pipeline on real archives: Beam transforms with TestPipeline, and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pyarrow.dataset as ds
import pytest
import yaml
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from ccrefine.pipelines.cli import main
from ccrefine.transforms.ptransforms import ApplyStep, ReadCrawl
from ccrefine.transforms.records import Document
from ccrefine.transforms.step import Step, Verdict


def test_read_crawl_fans_out_files_and_tags_rejections(shared_data):
    warcs = str(shared_data / "warc" / "dolma_sample-*.warc.gz")
    with TestPipeline() as pipeline:
        read = pipeline | ReadCrawl(warcs)
        assert_that(read.kept | beam.combiners.Count.Globally(), equal_to([37]), label="pages")
        reasons = read.rejected | beam.Map(lambda r: r.reason) | beam.combiners.Count.PerElement()
        assert_that(reasons, equal_to([("request", 37), ("warcinfo", 2), ("metadata", 2), ("resource", 4)]),
                    label="reasons")


def test_read_crawl_reports_the_clipped_file_with_its_offset(shared_data):
    clipped = str(shared_data / "warc" / "resiliparse_clipped.warc.gz")
    with TestPipeline() as pipeline:
        read = pipeline | ReadCrawl(clipped)
        assert_that(read.kept, equal_to([]), label="nothing kept")
        assert_that(read.rejected | beam.Map(lambda r: (r.reason, r.source, r.offset)),
                    equal_to([("errors.truncated", clipped, 0)]), label="fault")


class _DropShort(Step):
    stage = "short"

    def judge(self, document):
        if len(document.text) < 5:
            return Verdict(document, "too_short")
        return Verdict(document.with_scores({"length": len(document.text)}))


def test_apply_step_routes_and_scores():
    documents = [Document("a", "u", "", "", "long enough"), Document("b", "u", "", "", "tiny")]
    with TestPipeline() as pipeline:
        outputs = pipeline | beam.Create(documents) | ApplyStep(_DropShort())
        assert_that(outputs.kept | beam.Map(lambda d: (d.id, d.scores)), equal_to([("a", {"length": 11.0})]),
                    label="kept")
        assert_that(outputs.rejected | beam.Map(lambda r: (r.id, r.stage, r.reason, r.excerpt)),
                    equal_to([("b", "short", "too_short", "tiny")]), label="rejected")


@pytest.fixture(scope="module")
def corpus_run(shared_data, sample_warc, tmp_path_factory):
    """One CLI run over every real fixture plus the sample, on the default multi-process DirectRunner."""
    output = tmp_path_factory.mktemp("corpus") / "out"
    code = main(["corpus", "--input", str(shared_data / "warc" / "*.gz"), "--input", str(sample_warc),
                 "--output", str(output)])
    assert code == 0
    return output


@pytest.mark.slow
def test_stats_add_up_exactly(corpus_run):
    stats = json.loads((corpus_run / "stats.json").read_text())
    assert stats["problems"] == []
    stages = {row["stage"]: row for row in stats["stages"]}
    assert list(stages) == ["read", "url_filter", "extract", "language", "repetition", "quality", "lines", "pii"]
    assert stages["read"]["files"] == 9
    assert stages["read"]["in"] == 99 + 22  # every record of the 8 fixtures and the 22 of the sample
    assert stages["read"]["dropped"]["errors.truncated"] == 1 and stages["read"]["dropped"]["revisit"] == 1
    assert stats["records_in"] == stats["documents_out"] + stats["dropped_total"]


@pytest.mark.slow
def test_documents_are_readable_parquet_partitioned_by_language(corpus_run):
    stats = json.loads((corpus_run / "stats.json").read_text())
    table = ds.dataset(corpus_run / "documents", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == stats["documents_out"] > 0
    assert set(table.column("lang").to_pylist()) == {"en"}
    assert sorted(p.name for p in (corpus_run / "documents").iterdir()) == ["lang=en"]
    row = table.slice(0, 1).to_pylist()[0]
    assert row["id"] and row["text"] and row["lang_score"] >= 0.65 and dict(row["scores"])["lid.en"] > 0


@pytest.mark.slow
def test_every_dropped_record_is_explained(corpus_run):
    stats = json.loads((corpus_run / "stats.json").read_text())
    rejected = ds.dataset(corpus_run / "rejected", format="parquet", partitioning="hive").to_table().to_pylist()
    assert len(rejected) == stats["dropped_total"]
    by_stage: dict[str, dict[str, int]] = {}
    for row in rejected:
        by_stage.setdefault(row["stage"], {}).setdefault(row["reason"], 0)
        by_stage[row["stage"]][row["reason"]] += 1
    assert by_stage == {row["stage"]: row["dropped"] for row in stats["stages"] if row["dropped"]}
    fault = next(r for r in rejected if r["reason"] == "errors.truncated")
    assert fault["source"].endswith("resiliparse_clipped.warc.gz") and fault["offset"] == 0
    chinese = [r for r in rejected if r["stage"] == "language" and "茶" in r["excerpt"]]
    assert chinese and all(r["reason"] == "other_language" for r in chinese)


@pytest.mark.slow
def test_resolved_recipe_is_written(corpus_run):
    recipe = yaml.safe_load((corpus_run / "recipe.yaml").read_text())
    assert recipe["name"] == "refinedweb" and recipe["read"]["max_payload_bytes"] == 2_000_000
    assert recipe["stages"][0]["filter_urls"]["soft_banned_threshold"] == 2


def test_zh_recipe_keeps_the_chinese_pages(sample_warc, tmp_path):
    output = tmp_path / "zh"
    assert main(["corpus", "--input", str(sample_warc), "--output", str(output), "--recipe", "zh",
                 "--direct_running_mode", "in_memory"]) == 0
    table = ds.dataset(output / "documents", format="parquet", partitioning="hive").to_table().to_pylist()
    texts = {row["url"]: row["text"] for row in table}
    assert len(texts) == 3 and all(row["lang"] == "zh" for row in table)
    assert "社區圖書館的新角色" in texts["https://www.example.com.tw/wenhua/tushuguan.html"]  # Big5, no mojibake
    assert "茶农们一年四季都在忙碌" in texts["https://news.example.com.cn/shenghuo/chaye-zhongzhi.html"]  # GBK


def test_rerun_writes_identical_shards(sample_warc, tmp_path):
    for name in ("first", "second"):
        assert main(["corpus", "--input", str(sample_warc), "--output", str(tmp_path / name),
                     "--direct_running_mode", "in_memory"]) == 0
    files = sorted(p.relative_to(tmp_path / "first") for p in (tmp_path / "first").rglob("*.parquet"))
    assert files
    for relative in files:
        assert (tmp_path / "first" / relative).read_bytes() == (tmp_path / "second" / relative).read_bytes()


@pytest.mark.parametrize(
    "argv, message",
    [(["--input", "/nonexistent/*.warc.gz"], "matches no file"),
     (["--recipe", "nope"], "no preset recipe"),
     (["--output", __file__], "is a file; give a folder path"),
     (["--output", f"{__file__}/sub"], "cannot write in")],
)
def test_user_mistakes_are_one_clear_message(argv, message, sample_warc, tmp_path, capsys):
    base = {"--input": str(sample_warc), "--output": str(tmp_path / "o")}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        base[flag] = value
    code = main(["corpus", *[part for pair in base.items() for part in pair]])
    assert code == 2 and message in capsys.readouterr().err


def test_sample_command_writes_a_warc(tmp_path, capsys):
    target = tmp_path / "s.warc.gz"
    assert main(["sample", "--output", str(target)]) == 0
    assert target.stat().st_size > 0 and "wrote 22 records" in capsys.readouterr().out
    assert Path(target).read_bytes()[:2] == b"\x1f\x8b"


def test_url_filter_in_the_pipeline_names_what_matched(shared_data, sample_warc, tmp_path):
    blocklist = tmp_path / "mine" / "domains"
    blocklist.parent.mkdir()
    blocklist.write_text("kitchen-lab.example.com\n")
    recipe = tmp_path / "blocked.yaml"
    recipe.write_text(yaml.safe_dump({"stages": [
        {"filter_urls": {"blocklists": [str(blocklist), str(shared_data / "blocklist" / "ut1_gambling" / "domains")]}},
        {"extract_text": {}}]}))
    output = tmp_path / "out"
    assert main(["corpus", "--input", str(sample_warc), "--output", str(output), "--recipe", str(recipe),
                 "--direct_running_mode", "in_memory"]) == 0
    rejected = ds.dataset(output / "rejected" / "stage=url_filter", format="parquet").to_table().to_pylist()
    assert sorted((r["url"].split("/")[2], r["reason"], r["detail"]) for r in rejected) == [
        ("kitchen-lab.example.com", "blocklist", "blocklist:kitchen-lab.example.com"),
        ("kitchen-lab.example.com", "blocklist", "blocklist:kitchen-lab.example.com"),
    ]


def test_ccnet_preset_needs_a_model_and_says_how_to_train_it(sample_warc, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["corpus", "--input", str(sample_warc), "--output", "out", "--recipe", "ccnet"])
    assert code == 2 and "ccrefine train-kenlm --lang en" in capsys.readouterr().err


def test_ccnet_preset_end_to_end(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train-kenlm", "--lang", "en", "--order", "3", "--output", "models/kenlm/en.arpa",
                 "--input", str(shared_data / "text" / "en_pud_news_wiki.txt")]) == 0
    assert main(["corpus", "--input", str(shared_data / "warc" / "dolma_sample-0001.warc.gz"), "--output", "out",
                 "--recipe", "ccnet", "--direct_running_mode", "in_memory"]) == 0
    table = ds.dataset(tmp_path / "out" / "documents", format="parquet", partitioning="hive").to_table().to_pylist()
    assert table and all(dict(row["scores"])["ccnet.perplexity"] > 1 for row in table)
