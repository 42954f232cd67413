"""Repeated ids: the same id with the same text is one document however often it is read (an archive passed
twice, a record repeated); the same id with another text is another document. Every stage on, real sentences."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from ccrefine.pipelines.dedup import DedupSettings, run_dedup
from ccrefine.pipelines.options import beam_options
from ccrefine.transforms.dedup.minhash import MinHashOptions
from ccrefine.transforms.dedup.sources import document_key, id_of, write_documents_file
from ccrefine.transforms.dedup.substrings import SubstringOptions
from ccrefine.transforms.records import Document

IN_MEMORY = ["--direct_running_mode", "in_memory", "--direct_num_workers", "1"]
SETTINGS = DedupSettings(MinHashOptions(max_cc_rounds=3), SubstringOptions(partitions=4), shards=2)
_runs = itertools.count()


@pytest.fixture(scope="module")
def corpus(shared_data) -> list[Document]:
    """Twelve pages of real sentences: a near-duplicate pair, a span copied from one page into another, two pages
    under two spellings of one URL."""
    lines = (shared_data / "text" / "en_ewt_web.dev.txt").read_text().splitlines()
    texts = [" ".join(lines[i * 12 : i * 12 + 12]) for i in range(10)]
    texts[4] += " " + " ".join(texts[2].split()[:60])
    texts.append(texts[0].replace(" the ", " a ", 1) + " Posted by admin.")
    texts.append(" ".join(lines[130:142]))
    urls = [f"https://site.example/{i}" for i in range(11)] + ["https://www.site.example/3/"]
    return [Document(f"page-{i:02d}", url, f"2024-0{1 + i % 9}-01", "", text, "en")
            for i, (text, url) in enumerate(zip(texts, urls, strict=True))]


def run(files: list[str], folder: Path) -> tuple[list, list]:
    """`ccrefine dedup`'s graph over the files: (sorted (id, text) kept, sorted (id, stage, reason, detail)
    rejected); the funnel must add up."""
    output = folder / f"run-{next(_runs)}"
    stats = run_dedup(beam_options(IN_MEMORY), files, str(output), SETTINGS)
    assert stats["problems"] == []

    def rows(name: str, columns: list[str]) -> list[tuple]:
        found = [pq.read_table(path, columns=columns).to_pylist() for path in (output / name).rglob("*.parquet")]
        return sorted(tuple(row[c] for c in columns) for table in found for row in table)

    return rows("documents", ["id", "text"]), rows("rejected", ["id", "stage", "reason", "detail"])


def test_an_archive_read_twice_keeps_the_same_documents_as_once(corpus, tmp_path):
    once = write_documents_file(str(tmp_path / "a.parquet"), corpus)
    again = write_documents_file(str(tmp_path / "b.parquet"), corpus[::-1])  # the same rows in another order
    kept_once, rejected_once = run([once], tmp_path)
    assert {stage for _, stage, _, _ in rejected_once} == {"dedup_minhash", "dedup_urls"} and len(kept_once) == 10
    assert any(text != document.text for document in corpus for doc_id, text in kept_once if doc_id == document.id)
    kept_twice, rejected_twice = run([once, again], tmp_path)
    assert kept_twice == kept_once
    repeats = [row for row in rejected_twice if row[1] == "dedup_exact"]
    assert sorted(row[0] for row in repeats) == sorted(d.id for d in corpus)
    assert all(row[2:] == ("duplicate", row[0]) for row in repeats)
    assert sorted(set(rejected_twice) - set(repeats)) == rejected_once


@pytest.mark.slow
def test_ten_thousand_copies_of_one_record_are_one_document(corpus, shared_data, tmp_path):
    copies = 10_000
    repeated = corpus[3]
    lines = (shared_data / "text" / "en_ewt_web.dev.txt").read_text().splitlines()
    other_text = Document(repeated.id, "https://elsewhere.example/", "2024-01-01", "", " ".join(lines[150:162]), "en")
    rows = corpus + [repeated] * (copies - 1) + [other_text]
    files = [write_documents_file(str(tmp_path / "copies.parquet"), rows)]
    kept, rejected = run(files, tmp_path)
    kept_once, _ = run([write_documents_file(str(tmp_path / "once.parquet"), corpus + [other_text])], tmp_path)
    assert kept == kept_once
    assert [row for row in kept if row[0] == repeated.id] == sorted([(repeated.id, repeated.text),
                                                                      (repeated.id, other_text.text)])
    stages = [row[1] for row in rejected]
    assert stages.count("dedup_exact") == copies - 1 and len(rejected) == len(rows) - len(kept)


def test_keys_order_as_ids_and_give_the_id_back():
    assert document_key("a", "x") == document_key("a", "x") != document_key("a", "y")
    assert id_of(document_key("a\x01b", "text")) == "a\x01b"
    assert sorted([document_key("ab", "1"), document_key("a", "2"), document_key("a-b", "3")]) == [
        document_key("a", "2"), document_key("a-b", "3"), document_key("ab", "1")]
