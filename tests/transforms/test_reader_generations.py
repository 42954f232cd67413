"""The reader on every archive generation (WARC/0.17 to 1.1, ARC), every layout, and damaged copies of each."""

from __future__ import annotations

import gzip
import io
import zlib
from collections import Counter

import brotli
import pytest
import zstandard
from ccrefine.transforms.read.crawl import ReadOptions, read_crawl_file
from ccrefine.transforms.records import Page, Rejected
from hypothesis import given, settings
from hypothesis import strategies as st
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.transforms.reader_archives import (
    CHINESE,
    FRENCH,
    JAPANESE,
    Doc,
    arc,
    pages,
    record_starts,
    warc,
    wet_characters,
    with_content_length,
    with_garbage_between_records,
)

VERSIONS = ["0.17", "0.18", "1.0", "1.1"]
LAYOUTS = ["members", "stream", "none"]


def read_all(data: bytes, source: str = "test.warc", options: ReadOptions = ReadOptions()):
    return list(read_crawl_file(io.BytesIO(data), source, options))


def kept(items) -> dict[str, str]:
    return {item.url: item.html or item.text for item in items if isinstance(item, Page)}


def outcome(items) -> Counter:
    return Counter("page" if isinstance(item, Page) else item.reason for item in items)


EXPECTED = {doc.url: text for doc, text in zip(pages(), [JAPANESE, JAPANESE, JAPANESE, FRENCH, CHINESE, "English"],
                                               strict=True)}


def assert_every_page_intact(items, urls=None):
    got = kept(items)
    for url in urls or EXPECTED:
        assert url in got, f"{url} lost"
        assert EXPECTED[url] in got[url] and "\ufffd" not in got[url]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_warc_generation_and_layout(version, layout):
    items = read_all(warc(version, pages(), layout))
    assert_every_page_intact(items)
    assert not [i for i in items if isinstance(i, Rejected) and i.reason.startswith("errors.")]
    assert len({p.id for p in items if isinstance(p, Page)}) == len(pages())


def test_japanese_charsets_of_a_clueweb_era_file():
    items = {p.url: p.charset for p in read_all(warc("0.18", pages())) if isinstance(p, Page)}
    assert items["http://www.example.ac.jp/news/1.html"] == "euc_jp"
    assert items["http://www.example.co.jp/3.html"] == "cp932"  # meta charset only


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("gzipped", [False, True])
def test_arc_plain_and_gzipped(gzipped, version):
    items = read_all(arc(pages(), gzipped, version), "crawl.arc")
    assert_every_page_intact(items)
    ids = [p.id for p in items if isinstance(p, Page)]
    assert all(i.startswith("urn:sha1:") for i in ids) and len(set(ids)) == len(ids)
    assert ids == [p.id for p in read_all(arc(pages(), gzipped, version), "crawl.arc") if isinstance(p, Page)]


@pytest.mark.parametrize("layout", ["members", "none"])
@pytest.mark.parametrize("version", VERSIONS)
def test_garbage_between_records_loses_nothing(version, layout):
    data = with_garbage_between_records(warc(version, pages(), layout), layout)
    items = read_all(data)
    assert_every_page_intact(items)
    assert any(i.reason.startswith("errors.") for i in items if isinstance(i, Rejected))  # and it is counted


@pytest.mark.parametrize("version", VERSIONS)
def test_flipped_byte_in_a_plain_file_costs_only_that_record(version):
    data = bytearray(warc(version, pages(), "none", extra_records=False))
    starts = record_starts(bytes(data), "none")
    data[starts[2] + 3] ^= 0xFF  # the version line of the second page's record
    items = read_all(bytes(data))
    assert_every_page_intact(items, [u for u in EXPECTED if u != pages()[1].url])


@pytest.mark.parametrize("version", [1, 2])
def test_plain_arc_recovers_after_a_fault(version):
    data = arc(pages(), version=version)
    header_end = data.index(b"\n", data.index(pages()[1].url.encode()))
    length_at = data.rindex(b" ", 0, header_end) + 1
    broken = data[:length_at] + b"x" + data[length_at:]  # the second page's length field is no number
    items = read_all(broken, "crawl.arc")
    assert_every_page_intact(items, [u for u in EXPECTED if u != pages()[1].url])
    assert outcome(items)["errors.content_length"] == 1


@pytest.mark.parametrize("layout", ["members", "none"])
def test_truncation_keeps_every_record_before_the_cut(layout):
    data = warc("1.0", pages(), layout)
    starts = record_starts(data, layout)
    for record in range(2, len(starts)):
        cut = starts[record] + 40
        items = read_all(data[:cut])
        complete = {pages()[(r - 2) // 2].url for r in range(2, record, 2)}  # responses fully before the cut
        assert complete <= set(kept(items))
        assert outcome(items)["errors.truncated"] == 1


@pytest.mark.parametrize("length_change", [-7, +7])
def test_wrong_content_length_in_a_plain_old_warc(length_change):
    data = warc("0.18", pages(), "none")
    record = 3  # warcinfo, then one response per page
    header = data.index(b"Content-Length: ", record_starts(data, "none")[record])
    length = int(data[header + 16 : data.index(b"\r\n", header)])
    items = read_all(with_content_length(data, record, length + length_change))
    assert_every_page_intact(items)


@pytest.mark.parametrize("gzipped", [False, True])
def test_lenient_wet_whose_lengths_count_characters(gzipped):
    texts = [FRENCH * 3, CHINESE * 4, "an ascii document\nwith two lines"]
    items = read_all(wet_characters(texts, gzipped), "ccnet.wet")
    assert [p.text for p in items if isinstance(p, Page)] == texts


def _encoded(body: bytes, encoding: str) -> bytes:
    return {"gzip": gzip.compress, "br": brotli.compress, "zstd": zstandard.ZstdCompressor().compress,
            "deflate": zlib.compress, "raw-deflate": lambda b: zlib.compress(b)[2:-4]}[encoding](body)


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd", "deflate", "raw-deflate"])
def test_content_encodings_are_undone(encoding):
    doc = pages()[3]
    header = "deflate" if encoding == "raw-deflate" else encoding
    items = read_all(warc("1.0", [Doc(doc.url, _encoded(doc.html, encoding), doc.content_type, header)]))
    assert_every_page_intact(items, [doc.url])


def test_payload_stored_decoded_under_a_content_encoding_header_is_kept():
    doc = pages()[3]
    items = read_all(warc("1.0", [Doc(doc.url, doc.html, doc.content_type, "br")]))
    assert_every_page_intact(items, [doc.url])


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_compression_bombs_are_oversized(encoding):
    bomb = _encoded(b"<html>" + b"\x20" * 50_000_000, encoding)
    assert len(bomb) < 100_000
    items = read_all(warc("1.0", [Doc("http://x.org/", bomb, "text/html", encoding)]))
    assert outcome(items)["oversized"] == 1


@pytest.mark.parametrize("encoding", ["gzip, br", "compress", "x-custom"])
def test_stacked_and_unknown_encodings_are_counted(encoding):
    items = read_all(warc("1.0", [Doc("http://x.org/", b"<html>hi</html>", "text/html", encoding)]))
    assert outcome(items)["unsupported_encoding"] == 1


def test_repeated_record_id_gives_unique_stable_ids():
    data = warc("1.0", pages()[:2], "members", extra_records=False)
    record = data[record_starts(data, "members")[1]:record_starts(data, "members")[2]]
    doubled = data + record * 3  # the same record (same WARC-Record-ID) three more times
    first, second = read_all(doubled), read_all(doubled)
    ids = [p.id for p in first if isinstance(p, Page)]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert ids[0].startswith("urn:uuid:") and "#" not in ids[0] and ids[2] == f"{ids[0]}#{first[3].offset}"
    assert ids == [p.id for p in second if isinstance(p, Page)]


_PLAIN_0_17 = warc("0.17", pages(), "none")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0), min_size=1, max_size=4))
def test_flipped_bytes_in_a_plain_old_warc_lose_only_the_damaged_records(positions):
    data = bytearray(_PLAIN_0_17)
    flipped = sorted(p % len(data) for p in positions)
    for position in flipped:
        data[position] ^= 0xFF
    items = read_all(bytes(data))  # must not raise
    starts = record_starts(_PLAIN_0_17, "none") + [len(_PLAIN_0_17)]
    got = kept(items)
    for number, doc in enumerate(pages()):
        response = 2 + 2 * number  # warcinfo, then a request and a response per page
        touched = any(starts[response - 1] <= f < starts[response + 1] for f in flipped)
        if not touched:
            assert EXPECTED[doc.url] in got.get(doc.url, ""), doc.url


def test_chunked_transfer_coding_under_gzip_is_undone():
    doc = pages()[4]
    compressed = gzip.compress(doc.html)
    parts = (compressed[:50], compressed[50:])
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", doc.content_type), ("Content-Encoding", "gzip"),
                                       ("Transfer-Encoding", "chunked")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(doc.url, "response", payload=io.BytesIO(chunked), http_headers=http))
    assert_every_page_intact(read_all(out.getvalue()), [doc.url])


def test_wrong_length_in_a_warc_with_lf_only_header_lines():
    data = with_content_length(warc("1.0", pages(), "none", extra_records=False), 2, 30)
    start = record_starts(data, "none")[2]
    end = data.index(b"\r\n\r\n", start)
    lf_only = data[:start] + data[start:end].replace(b"\r\n", b"\n") + b"\n\n" + data[end + 4:]
    assert_every_page_intact(read_all(lf_only))


def test_lenient_wet_as_one_gzip_stream():
    texts = [f"{FRENCH} {number}" for number in range(300)]
    items = read_all(gzip.compress(wet_characters(texts)), "ccnet.wet.gz")
    assert [p.text for p in items if isinstance(p, Page)] == texts


def test_a_page_quoting_a_version_line_survives_a_wrong_length():
    body = b"<html><body><pre>Every record starts with\nWARC/1.0\nand a blank line ends its header.</pre></body></html>"
    docs = [Doc("http://spec.example.org/", body, "text/html"), *pages()[3:5]]
    data = warc("1.0", docs, "none", extra_records=False)
    header = data.index(b"Content-Length: ", record_starts(data, "none")[1])
    true_length = int(data[header + 16 : data.index(b"\r\n", header)])
    data = with_content_length(data, 1, true_length - 80)  # cut before the quoted version line
    got = kept(read_all(data))
    assert got["http://spec.example.org/"].endswith(body.decode()) and len(got) == 3


def test_a_gzip_member_holding_several_records_loses_nothing():
    """`cat per-record.warc.gz whole-file.warc.gz`: a member after the first holds several records."""
    plain = warc("1.0", pages(), "none", extra_records=False)
    starts = record_starts(plain, "none") + [len(plain)]
    members = [plain[starts[0] : starts[2]], plain[starts[2] : starts[5]], plain[starts[5] : starts[7]]]
    per_record = b"".join(gzip.compress(plain[a:b]) for a, b in zip(starts[:2], starts[1:3], strict=True))
    items = read_all(per_record + gzip.compress(members[1]) + gzip.compress(members[2]))
    assert_every_page_intact(items)
    ids = [p.id for p in items if isinstance(p, Page)]
    assert len(ids) == len(set(ids)) == len(pages())
