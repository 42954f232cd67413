"""URL dedup: normalisation of the spellings of one page, and DedupUrls' choice (newest, then longest)."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from ccrefine.transforms.dedup.ptransforms import Deduplicate
from ccrefine.transforms.dedup.sources import write_documents_file
from ccrefine.transforms.dedup.urls import crawl_time, normalize_url, preference
from ccrefine.transforms.records import Document

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]


@pytest.mark.parametrize("spelling", [
    "http://example.com/a/b",
    "https://www.example.com/a/b/",
    "HTTPS://WWW.Example.COM:443/a/b#section",
    "http://example.com:80/a/b?utm_source=x&utm_medium=y&fbclid=z",
    "https://example.com/a/b?gclid=1&msclkid=2#top",
])
def test_spellings_of_one_page_share_a_key(spelling):
    assert normalize_url(spelling) == "example.com/a/b"


def test_what_changes_the_page_changes_the_key():
    assert normalize_url("https://example.com/a?b=2&a=1") == normalize_url("https://example.com/a?a=1&b=2")
    assert normalize_url("https://example.com/a?id=1") != normalize_url("https://example.com/a?id=2")
    assert normalize_url("https://example.com:8080/a") == "example.com:8080/a"
    assert normalize_url("https://example.com/A") != normalize_url("https://example.com/a")  # paths are case-sensitive
    assert normalize_url("https://shop.example.com/") != normalize_url("https://example.com/")


@pytest.mark.parametrize("broken", ["", "not a url", "http://", "https://[::1/", "http://example.com:99999/"])
def test_unusable_urls_have_no_key(broken):
    assert normalize_url(broken) is None


def test_preference_orders_newest_then_longest_then_id():
    assert crawl_time("2024-05-01T12:00:00Z") > crawl_time("2023-05-01T12:00:00") > crawl_time("garbage") == 0
    ranked = sorted([preference("2023-01-01", 900, "a"), preference("2024-01-01", 10, "b"),
                     preference("2024-01-01", 20, "c"), preference("2024-01-01", 20, "b2")])
    assert [key[-1] for key in ranked] == ["b2", "c", "b", "a"]


def test_dedup_urls_keeps_one_document_per_page(tmp_path):
    documents = [
        Document("old", "http://www.site.example/page", "2023-01-01T00:00:00Z", "", "old but long " * 20),
        Document("new", "https://site.example/page/?utm_campaign=x", "2024-03-01T00:00:00Z", "", "new"),
        Document("other", "https://site.example/other", "2024-03-01T00:00:00Z", "", "other"),
        Document("no-url", "", "", "", "text"),
        Document("no-url-2", "", "", "", "text"),
    ]
    with TestPipeline(argv=IN_MEMORY) as pipeline:
        outputs = pipeline | Deduplicate([write_documents_file(str(tmp_path / "in.parquet"), documents)], None, None)
        assert_that(outputs.kept | beam.Map(lambda d: d.id), equal_to(["new", "other", "no-url", "no-url-2"]),
                    label="Kept")
        assert_that(outputs.rejected | beam.Map(lambda r: (r.id, r.stage, r.reason, r.detail)),
                    equal_to([("old", "dedup_urls", "duplicate", "new")]), label="Rejected")
