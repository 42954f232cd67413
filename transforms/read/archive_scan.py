"""Where the records of an archive are: its format and layout, and the next record boundary after a fault.

Three layouts occur in the wild: one gzip member per record (the WARC standard's recommendation, Common Crawl),
an uncompressed file, and one gzip stream around the whole file (ClueWeb09-era and `gzip file.warc`). Formats:
WARC/0.17 (Heritrix 1.x), WARC/0.18 (ClueWeb09), WARC/1.0, WARC/1.1 and ARC versions 1 and 2 (Internet Archive,
Alexa).
A boundary is a gzip member start, a WARC version line, or an ARC header line, scanned for in constant memory.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ARC2WARCHeadersParser

WARC_VERSIONS = ("WARC/1.1", "WARC/1.0", "WARC/0.18", "WARC/0.17")
GZIP_MAGIC = b"\x1f\x8b\x08"
# A version line then a header field name: distinctive enough to be found even mid-line (after garbage).
_WARC_START = re.compile(rb"(WARC/(?:1\.[01]|0\.1[78])\r?\n[!-9;-~]{1,100}:)")
# ARC record header: URL, IP address, 14-digit date, MIME type, then (version 2 only) result code, checksum,
# location, offset and file name, then the length.
_ARC_START = re.compile(rb"\n([a-zA-Z][\w+.-]*:\S* [0-9a-fA-F.:-]+ \d{14} \S+(?: \S+ \S+ \S+ \d+ \S+)? \d+\r?\n)")
_ARC_V2_FIELDS = 10
_SCAN_CHUNK = 1 << 20
_SCAN_OVERLAP = 8192  # longer than any header line we hope to find across a chunk border
_SNIFF_OUTPUT = 1 << 20


@dataclass(frozen=True)
class Layout:
    archive_format: str  # "warc" or "arc"
    compression: str  # "members" (gzip per record), "stream" (one gzip stream) or "none"


def sniff_layout(stream: BinaryIO) -> Layout | None:
    """The archive's layout from its first records, or None when it is not an archive.

    Looks past a damaged first gzip member, so one bad byte at the start does not cost the whole file.
    """
    stream.seek(0)
    head = stream.read(_SCAN_CHUNK)
    starts = [0]
    while len(starts) < 8 and (found := head.find(GZIP_MAGIC, starts[-1] + 1)) >= 0:
        starts.append(found)
    for start in starts:
        if head.startswith(GZIP_MAGIC, start):
            try:
                member = zlib.decompressobj(31).decompress(head[start:], _SNIFF_OUTPUT)
            except zlib.error:
                continue
            archive_format = _format_of(member)
            if archive_format:
                return Layout(archive_format, "stream" if _holds_several_records(member) else "members")
        elif start == 0 and (archive_format := _format_of(head)):
            return Layout(archive_format, "none")
    # A plain file whose first record is damaged: a later record header still tells what it is.
    if not head.startswith(GZIP_MAGIC):
        for archive_format, pattern in (("warc", _WARC_START), ("arc", _ARC_START)):
            if pattern.search(head):
                return Layout(archive_format, "none")
    return None


def open_layout(stream: BinaryIO, layout: Layout, window: int) -> BinaryIO:
    """The stream to read records from: a whole-file gzip stream is read through its decompression, keeping the
    last `window` bytes so that re-reading the current record does not decompress the file again from its start."""
    stream.seek(0)
    if layout.compression != "stream":
        return stream
    return RecentWindow(gzip.GzipFile(fileobj=stream, mode="rb"), window)


class RecentWindow:
    """A forward-reading stream (a gzip stream: seeking back means decompressing again from the start) made cheap
    to seek back into its last `window` bytes. Offsets are those of the underlying stream."""

    def __init__(self, raw: BinaryIO, window: int):
        self._raw = raw
        self._window = window
        self._kept = bytearray()
        self._kept_from = 0  # offset of _kept[0]; the raw stream stands at the end of _kept
        self._position = 0

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise io.UnsupportedOperation("RecentWindow seeks from the start only")
        self._position = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        kept_to = self._kept_from + len(self._kept)
        if not self._kept_from <= self._position <= kept_to:  # outside the window: let the raw stream seek
            self._raw.seek(self._position)
            self._kept, self._kept_from, kept_to = bytearray(), self._position, self._position
        start = self._position - self._kept_from
        out = bytes(self._kept[start : start + size] if size >= 0 else self._kept[start:])
        if size < 0 or len(out) < size:
            fresh = self._raw.read(-1 if size < 0 else size - len(out))
            self._kept += fresh
            out += fresh
        self._position += len(out)
        if len(self._kept) > 2 * self._window:
            drop = len(self._kept) - self._window
            del self._kept[:drop]
            self._kept_from += drop
        return out


def _format_of(data: bytes) -> str | None:
    first_line = data[:64].split(b"\n", 1)[0].rstrip(b"\r")
    if first_line.decode("latin-1") in WARC_VERSIONS:
        return "warc"
    if data.startswith(b"filedesc://"):
        return "arc"
    return None


class QuietArchiveIterator(ArchiveIterator):
    """warcio's iterator, without its stderr dump of the line after a wrong length (megabytes on hostile input),
    and reading ARC version 2 headers (warcio reads only version 1's five fields)."""

    INC_RECORD = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loader.arc_parser = _ArcV1OrV2Parser()


class _ArcV1OrV2Parser(ARC2WARCHeadersParser):
    def parse(self, stream, headerline=None):
        headerline = stream.readline() if headerline is None else headerline
        fields = headerline.split()
        if len(fields) == _ARC_V2_FIELDS:  # keep URL, IP, date, MIME type and length: the version 1 fields
            headerline = (b" " if isinstance(headerline, bytes) else " ").join(fields[:4] + fields[9:]) + (
                b"\n" if isinstance(headerline, bytes) else "\n")
        return super().parse(stream, headerline)


def _holds_several_records(member: bytes) -> bool:
    """Whether the first gzip member holds a second record: then the whole file is one gzip stream."""
    iterator = QuietArchiveIterator(io.BytesIO(member), no_record_parse=True, arc2warc=True)
    seen = 0
    try:
        for _ in iterator:
            seen += 1
            if seen == 2:
                return True
    except Exception:  # noqa: BLE001 - the member is cut at _SNIFF_OUTPUT; a partial second record still counts
        pass
    return False


def next_record_start(stream: BinaryIO, position: int, layout: Layout) -> int | None:
    """The offset of the next plausible record start at or after `position`, or None at the end of the file."""
    if layout.compression == "members":
        return _scan(stream, position, lambda window: window.find(GZIP_MAGIC), len(GZIP_MAGIC))
    pattern = _WARC_START if layout.archive_format == "warc" else _ARC_START

    def find(window: bytes) -> int:
        match = pattern.search(window)
        return match.start(1) if match else -1

    # An ARC header is found by the newline before it: start one byte early so one at `position` is found.
    return _scan(stream, max(position - 1, 0) if layout.archive_format == "arc" else position, find, _SCAN_OVERLAP)


def _scan(stream: BinaryIO, position: int, find, overlap: int) -> int | None:
    stream.seek(position)
    carry = b""
    base = position  # file offset of the window's first byte
    while chunk := stream.read(_SCAN_CHUNK):
        window = carry + chunk
        found = find(window)
        if found >= 0:
            return base + found
        carry = window[-overlap:]
        base += len(window) - len(carry)
    return None


@dataclass(frozen=True)
class Extent:
    """The bytes of one record found by its boundaries rather than its declared length."""

    data: bytes | None  # the record, uncompressed; None when it is larger than the cap
    end: int | None  # where the next record starts; None at the end of the file
    complete: bool  # False when the file ends inside the record's gzip member (a real truncation)


def delimited_record(stream: BinaryIO, offset: int, layout: Layout, cap: int) -> Extent:
    """The record at `offset` up to its gzip member's end, or up to the next record header."""
    if layout.compression == "members":
        return _gzip_member(stream, offset, cap)
    end = next_record_start(stream, offset + 1, layout)
    stream.seek(offset)
    data = stream.read(cap + 1) if end is None else stream.read(min(end - offset, cap + 1))
    return Extent(None if len(data) > cap else data, end, True)


def _gzip_member(stream: BinaryIO, offset: int, cap: int) -> Extent:
    """Inflates the member to find its end even past the cap (without keeping that output)."""
    stream.seek(offset)
    decompressor = zlib.decompressobj(31)
    out: bytearray | None = bytearray()
    consumed = 0
    try:
        while not decompressor.eof and (chunk := stream.read(1 << 16)):
            consumed += len(chunk)
            while chunk and not decompressor.eof:
                piece = decompressor.decompress(chunk, 1 << 20)
                chunk = decompressor.unconsumed_tail
                if out is not None:
                    out += piece
                    out = out if len(out) <= cap else None
    except zlib.error:
        return Extent(None, offset + 1, False)
    if not decompressor.eof:
        return Extent(None, None, False)
    return Extent(None if out is None else bytes(out), offset + consumed - len(decompressor.unused_data), True)


def ends_inside_header(stream: BinaryIO, offset: int, layout: Layout) -> bool:
    """Whether the file ends inside the header of the record at `offset` (a truncation, not damage).

    Leaves the stream where it was: a reader in the middle of the file may call it.
    """
    here = stream.tell()
    if layout.compression == "members":
        extent = _gzip_member(stream, offset, 1 << 16)
        cut = not extent.complete and extent.end is None  # inflated without error up to the end of the file
    else:
        stream.seek(offset)
        head = stream.read(1 << 16)
        cut = len(head) < 1 << 16 and (b"\n" if layout.archive_format == "arc" else b"\r\n\r\n") not in head
    stream.seek(here)
    return cut


_CONTENT_LENGTH = re.compile(rb"^(content-length:[ \t]*)\d+", re.IGNORECASE | re.MULTILINE)


def with_true_length(record: bytes, archive_format: str) -> bytes | None:
    """The record with its declared length replaced by the length its boundaries give; None if it has no header.

    The record's trailing newlines (the separator before the next record) are not counted.
    """
    if archive_format == "arc":
        separator, head_end = b"\n", record.find(b"\n")
    else:  # whichever blank line comes first: some writers end WARC header lines with LF only
        separator, head_end = min(((sep, at) for sep in (b"\r\n\r\n", b"\n\n") if (at := record.find(sep)) >= 0),
                                  key=lambda found: found[1], default=(b"", -1))
    if head_end < 0:
        return None
    head, body = record[: head_end + len(separator)], record[head_end + len(separator) :].rstrip(b"\r\n")
    if archive_format == "arc":
        fields = head.rstrip(b"\r\n").rsplit(b" ", 1)
        if len(fields) != 2 or not fields[1].isdigit():
            return None
        head = b"%s %d\n" % (fields[0], len(body))
    else:
        head, found = _CONTENT_LENGTH.subn(rb"\g<1>%d" % len(body), head, count=1)
        if not found:
            return None
    return head + body + (b"\n" if archive_format == "arc" else b"\r\n\r\n")
