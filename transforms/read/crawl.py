"""Reading WARC, WET and ARC files into `Page` records, resiliently.

`read_crawl_file` streams one open archive in constant memory and yields a `Page` for every HTTP 200 HTML
response or WET conversion record, and a `Rejected` for everything else: the record types that hold no
document, non-200 or non-HTML responses, oversized payloads, and faults. Every WARC generation (0.17, 0.18,
1.0, 1.1) and ARC are read, gzipped per record, as one gzip stream, or plain (see `transforms.read.archive_scan`).

A fault never ends the file: the good records before it are already out, the fault is reported with its byte
offset, and reading resumes at the next record boundary found after it (a gzip member, a WARC version line or
an ARC header line). A record whose declared length is wrong (cc_net-style WET counts characters, not bytes)
is re-read up to its real boundary, its gzip member's end or the next record header, and kept.
Offsets are byte offsets in the file, except in a whole-file gzip stream (and after a gzip member that holds
several records, when the file is read again as one stream), where they count uncompressed bytes.

Ids: a record keeps its WARC-Record-ID (ARC records, which have none, get a digest of URL and date); an id
already given to an earlier document of the same file is qualified as `<id>#<offset>`, so ids are unique within
a file and the same on every rerun. (Reading one file twice is the pipeline's business, not the reader's.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ccrefine.transforms.read.archive_scan import (
    WARC_VERSIONS,
    Layout,
    QuietArchiveIterator,
    delimited_record,
    ends_inside_header,
    next_record_start,
    open_layout,
    sniff_layout,
    with_true_length,
)
from ccrefine.transforms.read.decode import decode_html, looks_binary
from ccrefine.transforms.read.http_encoding import Oversized, UnsupportedEncoding, decode_content
from ccrefine.transforms.records import Page, Rejected
from warcio.bufferedreaders import ChunkedDataReader
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParser
from zstandard import ZstdError

logger = logging.getLogger(__name__)

STAGE = "read"
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DRAIN_CHUNK = 1 << 20
_HEADER_ROOM = 1 << 16  # record and HTTP headers on top of the payload cap, when a record is re-read whole
_DUMP_NAME = re.compile(r"CC-MAIN-\d{4}-\d{2}")


@dataclass(frozen=True)
class ReadOptions:
    max_payload_bytes: int = 2_000_000  # larger pages are almost never prose; caps a worker's memory

    def __post_init__(self):
        if self.max_payload_bytes <= 0:
            raise ValueError(f"max_payload_bytes must be positive, got {self.max_payload_bytes}")


def read_crawl_file(stream: BinaryIO, source: str, options: ReadOptions = ReadOptions()) -> Iterator[
    Page | Rejected
]:
    """Yield a Page or a Rejected for every record of one archive; never raises on bad input."""
    if not stream.read(4):
        yield _fault(source, 0, "empty_file")
        return
    layout = sniff_layout(stream)
    if layout is None:
        yield _fault(source, 0, "not_an_archive")
        return
    context = _FileContext(source, _dump_from_path(source), layout)
    window = 2 * (options.max_payload_bytes + _HEADER_ROOM)
    tally = _Tally()
    try:
        yield from _read_records(open_layout(stream, layout, window), context, options, tally)
    except _SeveralRecordsInOneMember:
        # A gzip member deep in the file holds several records (files concatenated with a whole-file gzip one):
        # read the file again as one gzip stream, past the records already out. Offsets from there on count
        # uncompressed bytes.
        context.layout = Layout(layout.archive_format, "stream")
        yield from _read_records(open_layout(stream, context.layout, window), context, options, _Tally(tally.seen),
                                 skip=tally.records)


@dataclass
class _Tally:
    seen: set[str] = dataclasses.field(default_factory=set)  # document ids given out in this file
    records: int = 0  # records given out (faults not counted)
    faults: int = 0


class _SeveralRecordsInOneMember(Exception):
    pass


def _read_records(records: BinaryIO, context: _FileContext, options: ReadOptions, tally: _Tally, skip: int = 0):
    position: int | None = 0
    while position is not None:
        resume_at = yield from _tallied(_read_from(records, position, context, options, tally), tally, skip)
        position = None if resume_at is None else next_record_start(records, resume_at, context.layout)


def _tallied(items, tally: _Tally, skip: int):
    """Passes items on, counting them, leaving out the first `skip` records and qualifying a document id already
    used in this file; returns the generator's result."""
    while True:
        try:
            item = next(items)
        except StopIteration as done:
            return done.value
        if _is_fault(item):
            tally.faults += 1
        else:
            tally.records += 1
            if tally.records <= skip:
                continue
        if isinstance(item, Page):
            if item.id in tally.seen:
                item = dataclasses.replace(item, id=f"{item.id}#{item.offset}")
            tally.seen.add(item.id)
        yield item


def _iterator(stream: BinaryIO, layout: Layout) -> QuietArchiveIterator:
    iterator = QuietArchiveIterator(stream, arc2warc=True)
    # warcio accepts these versions today; naming them here keeps the reader's promise if its default changes.
    iterator.loader.warc_parser = StatusAndHeadersParser(list(WARC_VERSIONS))
    # One format per file: otherwise warcio takes any garbage line with four spaces in a WARC for an ARC header.
    iterator.known_format = layout.archive_format
    return iterator


def _read_from(stream, position: int, context: _FileContext, options: ReadOptions, tally: _Tally):
    """Read records from `position` until the end or a fault; returns where to look for the next record."""
    stream.seek(position)
    iterator = _iterator(stream, context.layout)
    resume_at = None
    try:
        for record in iterator:
            offset = iterator.offset
            item = _classify(record, offset, context, options)
            if _is_fault(item) and item.reason == "errors.malformed_record" and ends_inside_header(
                stream, offset, context.layout
            ):
                item = dataclasses.replace(item, reason="errors.truncated")  # a header the end of the file cut
            length_errors = iterator.err_count
            end = iterator.get_record_offset() + iterator.get_record_length()  # reads on to the next header
            if iterator.err_count > length_errors or (isinstance(item, Rejected) and item.reason == "errors.truncated"):
                # No record boundary where the declared length said: a wrong length, or a real truncation.
                return (yield from _reread(stream, item, context, options))
            yield item
            resume_at = offset + 1 if _is_fault(item) else end
    except Exception as exc:  # noqa: BLE001 - the archive parser raises many types on hostile bytes
        if _several_records_in_one_member(exc, context) and not tally.faults:
            raise _SeveralRecordsInOneMember from exc  # (after a fault the file cannot be read as one stream)
        offset = max(iterator.offset, position)
        logger.warning("%s: %s at byte %d: %.200s", context.source, type(exc).__name__, offset, exc)
        cut_short = ends_inside_header(stream, offset, context.layout)
        yield _fault(context.source, offset, "truncated" if cut_short else _fault_kind(exc))
        return offset + 1
    if resume_at is None:
        if ends_inside_header(stream, position, context.layout):
            kind = "truncated"
        else:
            kind = "malformed_record" if context.layout.compression == "none" else "corrupt_gzip"
        yield _fault(context.source, position, kind)
        return position + 1
    # warcio reports a gzip member it cannot inflate as the end of the input: look past it.
    stream.seek(resume_at)
    return resume_at if stream.read(1) else None


def _several_records_in_one_member(exc: Exception, context: _FileContext) -> bool:
    return context.layout.compression == "members" and isinstance(exc, ArchiveLoadFailed) and (
        "non-chunked gzip" in str(exc))


def _reread(stream, item: Page | Rejected, context: _FileContext, options: ReadOptions):
    """Re-read the record of `item` by its boundaries; yields it and returns where the next one starts."""
    layout, offset = context.layout, item.offset
    extent = delimited_record(stream, offset, layout, options.max_payload_bytes + _HEADER_ROOM)
    overran = isinstance(item, Rejected) and item.reason == "errors.truncated"
    if not extent.complete or (overran and extent.end is None):  # the file ends inside the record, or it is corrupt
        corrupt = not extent.complete and extent.end is not None
        yield _fault(context.source, offset, "corrupt_gzip") if corrupt else (
            item if overran else _fault(context.source, offset, "truncated"))
        return extent.end
    if extent.data is None:  # longer than the payload cap up to its real boundary
        yield Rejected(id=item.id, url=item.url, stage=STAGE, reason="oversized", source=context.source, offset=offset)
        return extent.end
    repaired = with_true_length(extent.data, layout.archive_format)
    items = _records_at(repaired, offset, context, options) if repaired else []
    if len(items) != 1:
        yield _fault(context.source, offset, "content_length")
    else:
        logger.warning("%s: record at byte %d re-read by its boundaries (wrong Content-Length)", context.source, offset)
        yield items[0]
    return extent.end


def _records_at(data: bytes, offset: int, context: _FileContext, options: ReadOptions) -> list[Page | Rejected]:
    """The classified records of `data`, an uncompressed record read whole from `offset`."""
    try:
        records = _iterator(io.BytesIO(data), context.layout)
        return [_classify(record, offset, context, options) for record in records][:1]
    except Exception:  # noqa: BLE001 - as in _read_from
        return []


@dataclass
class _FileContext:
    source: str
    dump: str
    layout: Layout


def _is_fault(item: Page | Rejected) -> bool:
    return isinstance(item, Rejected) and item.reason.startswith("errors.")


def _classify(record, offset: int, context: _FileContext, options: ReadOptions) -> Page | Rejected:
    headers = record.rec_headers
    kind = record.rec_type
    url = _clean_uri(headers.get_header("WARC-Target-URI") or "")
    record_id = _record_id(record, url, context, offset)

    def reject(reason: str) -> Rejected:
        return Rejected(id=record_id, url=url, stage=STAGE, reason=reason, source=context.source, offset=offset)

    try:
        payload = _body(record).read(options.max_payload_bytes + 1)
        while record.raw_stream.read(_DRAIN_CHUNK):
            pass
    except (zlib.error, EOFError, ValueError, OSError) as exc:  # e.g. broken chunked transfer coding
        logger.warning("%s: unreadable payload at byte %d: %s", context.source, offset, exc)
        return reject("errors.payload")
    if record.length is None:
        return reject("errors.malformed_record")  # a header without Content-Length: cut or damaged
    if getattr(record.raw_stream, "limit", 0) > 0:
        return reject("errors.truncated")  # the input ended before the declared Content-Length
    if kind == "warcinfo":
        context.dump = _dump_from_warcinfo(payload) or context.dump
        return reject("warcinfo")
    if kind not in ("response", "conversion"):
        return reject(kind or "errors.malformed_record")  # request, metadata, resource, revisit, ...
    if len(payload) > options.max_payload_bytes:
        return reject("oversized")
    date = headers.get_header("WARC-Date") or ""
    if kind == "conversion":
        text = payload.decode("utf-8", "replace")
        return Page(record_id, url, date, context.dump, "text/plain", "utf-8", None, text, context.source, offset)

    status = record.http_headers.get_statuscode() if record.http_headers else None
    if status != "200":
        return reject("non_200")
    try:
        payload = decode_content(payload, record.http_headers.get_header("Content-Encoding"), options.max_payload_bytes)
    except UnsupportedEncoding:
        return reject("unsupported_encoding")
    except Oversized:
        return reject("oversized")
    except (zlib.error, ZstdError) as exc:
        logger.warning("%s: undecodable Content-Encoding at byte %d: %s", context.source, offset, exc)
        return reject("errors.payload")
    http_type = record.http_headers.get_header("Content-Type")
    mime = _mime_type(headers.get_header("WARC-Identified-Payload-Type") or http_type, payload)
    if mime not in HTML_TYPES:
        return reject("non_html")
    if looks_binary(payload):
        return reject("binary")
    html, charset = decode_html(payload, http_type)
    return Page(record_id, url, date, context.dump, mime, charset, html, None, context.source, offset)


def _body(record):
    """The record's payload with any chunked transfer coding undone; the content coding is undone later."""
    if record.http_headers and record.http_headers.get_header("Transfer-Encoding", "").lower() == "chunked":
        return ChunkedDataReader(record.raw_stream)
    return record.raw_stream


def _record_id(record, url: str, context: _FileContext, offset: int) -> str:
    if context.layout.archive_format == "arc":
        # ARC has no record ids (warcio invents random ones); derive a stable one from what the record is.
        digest = hashlib.sha1(f"{url} {record.rec_headers.get_header('WARC-Date')}".encode()).hexdigest()
        return f"urn:sha1:{digest}"
    # Every record's own id, WET conversions included: ids must stay unique when WARC and WET files of one
    # crawl are read together, since every later join is keyed by id.
    return _clean_uri(record.rec_headers.get_header("WARC-Record-ID") or f"{context.source}@{offset}")


def _clean_uri(value: str) -> str:
    """Some crawlers (wget) write URIs as `<https://...>`."""
    value = value.strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value


def _mime_type(content_type: str | None, payload: bytes) -> str:
    if content_type:
        return content_type.split(";", 1)[0].strip().lower()
    head = payload[:1024].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "text/html"
    return "application/octet-stream"


def _dump_from_warcinfo(payload: bytes) -> str:
    fields = payload[:65536].decode("utf-8", "replace")
    match = re.search(r"^isPartOf:\s*(\S+)", fields, re.MULTILINE)
    return match.group(1) if match else ""


def _dump_from_path(path: str) -> str:
    match = _DUMP_NAME.search(path)
    return match.group(0) if match else ""


def _fault(source: str, offset: int, kind: str) -> Rejected:
    return Rejected(id=f"{source}@{offset}", url="", stage=STAGE, reason=f"errors.{kind}", source=source, offset=offset)


def _fault_kind(exc: Exception) -> str:
    if isinstance(exc, zlib.error):
        return "corrupt_gzip"
    if isinstance(exc, EOFError):
        return "truncated"
    return "malformed_record"  # ArchiveLoadFailed, or a parser error on a damaged header
