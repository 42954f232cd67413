"""Archives of every generation, written with warcio (ARC by hand: warcio reads ARC but does not write it),
and the ways they get damaged. Used by the reader tests and by bench/reader_faults.py."""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


@dataclass(frozen=True)
class Doc:
    url: str
    html: bytes
    content_type: str  # the HTTP Content-Type, charset included when the server sent one
    encoding: str = ""  # HTTP Content-Encoding, already applied to `html` by `pages()` callers


JAPANESE = "東京の大学で日本語の授業が始まりました。学生たちは漢字とひらがなを毎日練習しています。"
FRENCH = "Les élèves de l'école de Montréal ont visité le musée. Ça a été très intéressant pour eux."
CHINESE = "北京的春天来得很早，公园里的花都开了，很多人周末去那里散步和拍照。"


def _page(title: str, body: str) -> str:
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p></body></html>"


def pages() -> list[Doc]:
    """Pages a 2008-era crawl held: Japanese in EUC-JP and Shift_JIS (one labelled only by its meta tag), a UTF-8
    French page, a GB2312 Chinese page and an English one."""
    meta_only = _page("日本語", JAPANESE).replace("<head>", '<head><meta charset="Shift_JIS">')
    return [
        Doc("http://www.example.ac.jp/news/1.html", _page("大学", JAPANESE).encode("euc_jp"),
            "text/html; charset=EUC-JP"),
        Doc("http://www.example.co.jp/2.html", _page("授業", JAPANESE).encode("shift_jis"),
            "text/html; charset=Shift_JIS"),
        Doc("http://www.example.co.jp/3.html", meta_only.encode("shift_jis"), "text/html"),
        Doc("http://www.example.fr/ecole.html", _page("École", FRENCH).encode(), "text/html; charset=UTF-8"),
        Doc("http://www.example.com.cn/chuntian.html", _page("春天", CHINESE).encode("gb2312"),
            "text/html; charset=gb2312"),
        Doc("http://www.example.org/english.html", _page("English", "A plain English page. " * 20).encode(),
            "text/html"),
    ]


# What a ClueWeb09 (WARC/0.18, Nutch) and a Heritrix 1.14 (WARC/0.17) file say about themselves.
_WARCINFO = {
    "0.18": b"software: Nutch 1.0-dev (modified for clueweb09)\r\nisPartOf: clueweb09-en\r\n"
            b"description: clueweb09 crawl with WARC output\r\nformat: WARC file version 0.18\r\n"
            b"conformsTo: http://www.archive.org/documents/WarcFileFormat-0.18.html\r\n",
    "0.17": b"software: Heritrix/1.14.0 http://crawler.archive.org\r\nip: 207.241.227.233\r\n"
            b"hostname: crawling017.archive.org\r\nformat: WARC File Format 0.17\r\n"
            b"conformsTo: http://crawler.archive.org/warc/0.17/WARC0.17ISO.doc\r\n",
}


def warc(version: str, docs: list[Doc], compression: str = "members", extra_records: bool = True) -> bytes:
    """A WARC file of `version` ("0.17", "0.18", "1.0", "1.1"): a warcinfo record, then for each page a request
    (Heritrix) and a response with the era's headers; compression "members", "stream" (whole file) or "none"."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=compression == "members", warc_version=version)
    info = _WARCINFO.get(version, b"software: warcio\r\nformat: WARC File Format " + version.encode() + b"\r\n")
    writer.write_record(writer.create_warc_record("", "warcinfo", payload=io.BytesIO(info),
                                                  warc_content_type="application/warc-fields"))
    for number, doc in enumerate(docs):
        headers = [("Content-Type", doc.content_type)] + ([("Content-Encoding", doc.encoding)] if doc.encoding else [])
        http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
        warc_headers = {"WARC-IP-Address": "192.0.2.7"}
        if version == "0.18":
            warc_headers |= {"WARC-TREC-ID": f"clueweb09-en0000-00-{number:05d}",
                             "WARC-Identified-Payload-Type": doc.content_type.split(";")[0]}
        if extra_records and version != "0.18":
            request = StatusAndHeaders(f"GET {doc.url} HTTP/1.0", [("User-Agent", "Heritrix")], is_http_request=True)
            writer.write_record(writer.create_warc_record(doc.url, "request", http_headers=request))
        writer.write_record(writer.create_warc_record(doc.url, "response", payload=io.BytesIO(doc.html),
                                                      http_headers=http, warc_headers_dict=warc_headers))
    data = out.getvalue()
    return gzip.compress(data) if compression == "stream" else data


def arc(docs: list[Doc], gzipped: bool = False, version: int = 1) -> bytes:
    """An ARC file (Internet Archive / Alexa), version 1 (5 header fields) or 2 (10): the filedesc record, then
    one record per page."""
    if version == 1:
        version_block = b"1 0 Alexa Internet\nURL IP-address Archive-date Content-type Archive-length\n"
        v2_fields = b""
    else:
        version_block = (b"2 0 Alexa Internet\nURL IP-address Archive-date Content-type Result-code Checksum "
                         b"Location Offset Filename Archive-length\n")
        v2_fields = b" 200 3E4ACB8AD6E9A8D4A3B8DAF2E7C1F0A2 - 0 crawl.arc"
    records = [b"filedesc://crawl.arc 0.0.0.0 20080301000000 text/plain%s %d\n%s\n" % (
        v2_fields, len(version_block), version_block)]
    for number, doc in enumerate(docs):
        body = b"HTTP/1.0 200 OK\r\nContent-Type: %s\r\n\r\n%s" % (doc.content_type.encode(), doc.html)
        records.append(b"%s 192.0.2.%d 20080301%06d %s%s %d\n%s\n" % (
            doc.url.encode(), number + 1, number, doc.content_type.split(";")[0].encode(), v2_fields, len(body), body))
    return b"".join(gzip.compress(r) for r in records) if gzipped else b"".join(records)


def wet_characters(texts: list[str], gzipped: bool = False) -> bytes:
    """A cc_net-style WET file whose Content-Length counts characters, not bytes (wrong for non-ASCII text)."""
    records = []
    for number, text in enumerate(texts):
        records.append(
            b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://www.example.org/%d\r\n"
            b"WARC-Date: 2019-02-15T19:15:59Z\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-%012d>\r\n"
            b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n"
            % (number, number, len(text), text.encode()))
    return b"".join(gzip.compress(r) for r in records) if gzipped else b"".join(records)


def record_starts(data: bytes, compression: str) -> list[int]:
    """Where each record of `data` starts (gzip members, or WARC version lines in a plain file)."""
    if compression == "members":
        starts, position = [], 0
        while position < len(data):
            starts.append(position)
            decompressor = zlib.decompressobj(31)
            decompressor.decompress(data[position:])
            position = len(data) - len(decompressor.unused_data)
        return starts
    return [0] + [m.start() + 4 for m in re.finditer(rb"\r\n\r\nWARC/", data)]


def with_garbage_between_records(data: bytes, compression: str, garbage: bytes = b"\x00junk\xff" * 50) -> bytes:
    starts = record_starts(data, compression)
    pieces = [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)], strict=True)]
    return garbage.join(pieces)


def with_content_length(data: bytes, record: int, length: int) -> bytes:
    """A plain WARC with the Content-Length of its `record`-th record replaced."""
    starts = record_starts(data, "none")
    header = data.index(b"Content-Length: ", starts[record])
    end = data.index(b"\r\n", header)
    return data[:header] + b"Content-Length: %d" % length + data[end:]
