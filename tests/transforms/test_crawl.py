"""The crawl reader on real archives and on archives damaged on purpose."""

from __future__ import annotations

import gzip
import io
from collections import Counter

import pytest
from ccrefine.transforms.read.crawl import ReadOptions, read_crawl_file
from ccrefine.transforms.records import Page, Rejected
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def read_all(data: bytes, source: str = "test.warc.gz", options: ReadOptions = ReadOptions()):
    return list(read_crawl_file(io.BytesIO(data), source, options))


def outcome(items) -> Counter:
    return Counter("page" if isinstance(item, Page) else item.reason for item in items)


@pytest.fixture(scope="module")
def dolma(shared_data) -> bytes:
    return (shared_data / "warc" / "dolma_sample-0000.warc.gz").read_bytes()


def test_reads_every_record_of_a_wget_crawl(dolma):
    items = read_all(dolma)
    assert outcome(items) == {"page": 22, "request": 22, "warcinfo": 1, "metadata": 1, "resource": 2}
    page = next(item for item in items if isinstance(item, Page))
    assert page.url == "https://www.semanticscholar.org/research/research-team"  # <...> stripped
    assert page.id.startswith("urn:uuid:") and page.html and page.content_type == "text/html"
    assert page.offset == 865 and page.date == "2024-04-25T16:24:44Z"


def test_common_crawl_warc_wet_and_arc(shared_data):
    warc = read_all((shared_data / "warc" / "whirlwind.warc.gz").read_bytes(), "CC-MAIN-2024-22/whirlwind.warc.gz")
    wet = read_all((shared_data / "warc" / "whirlwind.warc.wet.gz").read_bytes())
    (html_page,) = [i for i in warc if isinstance(i, Page)]
    (text_page,) = [i for i in wet if isinstance(i, Page)]
    assert html_page.dump == "CC-MAIN-2024-22"
    assert text_page.text and text_page.html is None
    assert text_page.id != html_page.id  # each record keeps its own id: joins stay unique across WARC and WET
    arc = read_all((shared_data / "warc" / "warcio_example.arc.gz").read_bytes())
    (arc_page,) = [i for i in arc if isinstance(i, Page)]
    assert arc_page.url == "http://example.com/" and arc_page.id.startswith("urn:sha1:")
    assert read_all((shared_data / "warc" / "warcio_example.arc.gz").read_bytes())[1].id == arc_page.id  # stable


def test_revisit_and_wat_records_are_counted_not_kept(shared_data):
    assert outcome(read_all((shared_data / "warc" / "warcio_example.warc.gz").read_bytes())) == {
        "page": 1, "request": 2, "revisit": 1, "warcinfo": 2}
    assert outcome(read_all((shared_data / "warc" / "whirlwind.warc.wat.gz").read_bytes())) == {
        "warcinfo": 1, "metadata": 1}


def test_clipped_record_is_a_truncation_fault_with_offset(shared_data):
    (fault,) = read_all((shared_data / "warc" / "resiliparse_clipped.warc.gz").read_bytes(), "clipped")
    assert isinstance(fault, Rejected) and fault.reason == "errors.truncated"
    assert fault.source == "clipped" and fault.offset == 0 and fault.url.startswith("http://www.houstonpress.com/")


@pytest.mark.parametrize("cut", [100, 20_000, 100_000, 150_000])
def test_truncated_file_keeps_every_record_before_the_cut(dolma, cut):
    whole = [i for i in read_all(dolma) if isinstance(i, Page)]
    items = read_all(dolma[:cut])
    pages = [i for i in items if isinstance(i, Page)]
    assert [p.id for p in pages] == [p.id for p in whole if p.offset < cut][: len(pages)]
    complete_before_cut = [p for p in whole if _record_end(dolma, p.offset) <= cut]
    assert len(pages) >= len(complete_before_cut)
    assert any(i.reason.startswith("errors.") for i in items if isinstance(i, Rejected))


def _record_end(data: bytes, offset: int) -> int:
    following = data.find(b"\x1f\x8b\x08", offset + 1)
    return len(data) if following < 0 else following


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=0), min_size=1, max_size=6))
def test_flipped_bytes_lose_only_the_damaged_records(dolma, positions):
    damaged = bytearray(dolma)
    flipped = sorted(p % len(dolma) for p in positions)
    for position in flipped:
        damaged[position] ^= 0xFF
    items = read_all(bytes(damaged))  # must not raise
    kept = {i.id for i in items if isinstance(i, Page)}
    for page in (i for i in read_all(dolma) if isinstance(i, Page)):
        start = page.offset
        # The page's gzip member, and the request member before it whose damage can hide it, are untouched.
        previous = dolma.rfind(b"\x1f\x8b\x08", 0, start)
        if not any(max(previous, 0) <= f < _record_end(dolma, start) for f in flipped):
            assert page.id in kept


def test_uncompressed_archive_and_wrong_content_length(dolma):
    plain = gzip.decompress(dolma)
    assert outcome(read_all(plain, "plain.warc")) == outcome(read_all(dolma))
    header = plain.find(b"Content-Length: ", plain.find(b"WARC-Type: response"))
    whole = {p.id: p.html for p in read_all(plain, "plain.warc") if isinstance(p, Page)}
    for wrong in (b"Content-Length: 50000", b"Content-Length: 97229"):  # too short, too long
        items = read_all(plain[:header] + wrong + plain[header + len(wrong):], "plain.warc")
        # The record is re-read up to the next record header: nothing lost, nothing added.
        assert {p.id: p.html for p in items if isinstance(p, Page)} == whole
        assert not [i for i in items if isinstance(i, Rejected) and i.reason.startswith("errors.")]


@pytest.mark.parametrize(
    "data, reason",
    [(b"", "errors.empty_file"), (b"just some text, not an archive\n" * 50, "errors.not_an_archive"),
     (gzip.compress(b"plain text inside gzip\n" * 50), "errors.not_an_archive")],
)
def test_files_that_are_not_archives(data, reason):
    (fault,) = read_all(data)
    assert fault.reason == reason and fault.offset == 0


def test_payload_cap_counts_oversized(dolma):
    counts = outcome(read_all(dolma, options=ReadOptions(max_payload_bytes=30_000)))
    assert counts["oversized"] > 0 and counts["page"] + counts["oversized"] == 22
    with pytest.raises(ValueError, match="max_payload_bytes"):
        ReadOptions(max_payload_bytes=0)


def test_sample_warc_covers_the_quick_start_cases(sample_warc):
    items = read_all(sample_warc.read_bytes(), str(sample_warc))
    counts = outcome(items)
    assert counts["page"] == 8 and counts["non_html"] == 1 and counts["non_200"] == 1
    charsets = {p.url: p.charset for p in items if isinstance(p, Page)}
    assert charsets["https://news.example.com.cn/shenghuo/chaye-zhongzhi.html"] == "gb18030"  # meta tag only
    assert charsets["https://www.example.com.tw/wenhua/tushuguan.html"] == "big5hkscs"
    assert all(p.dump == "ccrefine-sample" for p in items if isinstance(p, Page))


def _one_response_warc(body: bytes, content_type: str) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record("https://x.org/", "response", payload=io.BytesIO(body),
                                                  http_headers=headers))
    return out.getvalue()


def test_binary_bytes_labelled_html_are_rejected():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10
    assert outcome(read_all(_one_response_warc(png, "text/html; charset=utf-8"))) == {"binary": 1}


def test_payload_type_is_sniffed_when_headers_are_silent():
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for body in (b"<!DOCTYPE html><html><body><p>hello</p></body></html>", b"%PDF-1.4 not html"):
        writer.write_record(writer.create_warc_record(
            "https://x.org/", "response", payload=io.BytesIO(body),
            http_headers=StatusAndHeaders("200 OK", [], protocol="HTTP/1.1")))
    assert outcome(read_all(out.getvalue())) == {"page": 1, "non_html": 1}


def test_real_archives_in_every_layout(dolma, shared_data):
    """The real wget WARC as one gzip stream, and the real ARC uncompressed, give the same records."""
    whole_file_gzip = gzip.compress(gzip.decompress(dolma))
    assert outcome(read_all(whole_file_gzip)) == outcome(read_all(dolma))
    arc = (shared_data / "warc" / "warcio_example.arc.gz").read_bytes()
    assert [(i.url, i.id) for i in read_all(gzip.decompress(arc), "x.arc") if isinstance(i, Page)] == [
        (i.url, i.id) for i in read_all(arc, "x.arc") if isinstance(i, Page)]


def test_real_archive_read_with_a_repeated_record_keeps_ids_unique(dolma):
    first_page = next(i for i in read_all(dolma) if isinstance(i, Page))
    start = first_page.offset
    end = _record_end(dolma, start)
    items = read_all(dolma + dolma[start:end] * 3)
    ids = [i.id for i in items if isinstance(i, Page)]
    assert len(ids) == 25 and len(set(ids)) == 25
    assert [i for i in ids if i.startswith(first_page.id)][1:] == [
        f"{first_page.id}#{len(dolma) + n * (end - start)}" for n in range(3)]
