"""Decoding HTML payloads: the labels first (HTTP charset, then meta charset), detection only on evidence.

Labels are mapped the way browsers map them (WHATWG Encoding Standard): GB2312 and GBK pages are decoded
as GB18030, their superset, and Latin-1 as Windows-1252, so Chinese and Western pages come out without
mojibake even when the label is the narrower, historical one.

A label is trusted unless the bytes contradict it: a correctly labelled page with a few bad bytes keeps its
text, with only those bytes replaced by U+FFFD in place. Evidence that a label lies: the page is valid UTF-8
with non-ASCII text (legacy-encoded text is practically never valid UTF-8 by chance), or, under the label,
invalid sequences outnumber the well-formed non-ASCII characters (UTF-8) or exceed 2% of them (other codecs);
the same test accepts an unlabelled page as UTF-8 with a few bad bytes.
Only then is charset-normalizer asked, and its answer is taken when it decodes with fewer invalid sequences.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

# Browsers treat these labels as their supersets (WHATWG Encoding Standard, "labels").
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "euc-kr": "cp949",
}

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE)
_SNIFF_BYTES = 4096


def normalise_charset(label: str | None) -> str | None:
    """The Python codec for an encoding label, or None when the label names no codec we have."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _SUPERSETS.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*([^\s;]+)", content_type, re.IGNORECASE)
    return normalise_charset(match.group(1)) if match else None


def charsets_from_meta(payload: bytes) -> list[str]:
    """The codecs of the page's meta charset declarations, first first (archived pages often carry two)."""
    labels = (match.group(1).decode("ascii", "replace") for match in _META_CHARSET.finditer(payload[:_SNIFF_BYTES]))
    return [codec for label in labels if (codec := normalise_charset(label))]


# File types that crawlers store under an HTML label; their bytes are no text whatever the label says.
_BINARY_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF-", b"PK\x03\x04", b"\x1f\x8b", b"BZh", b"\xfd7zXZ",
                 b"\x28\xb5\x2f\xfd", b"7z\xbc\xaf", b"Rar!", b"OggS", b"ID3", b"fLaC", b"wOFF", b"wOF2", b"\x7fELF",
                 b"\x00\x00\x01\x00", b"\xd0\xcf\x11\xe0", b"\x00asm", b"\x1aE\xdf\xa3")
# C0 controls that text never holds (tab, newlines, form feed and ESC, which ISO-2022 uses, are allowed).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\x0b\x0c\r\x1b")
_CONTROL_SHARE = 0.03  # random or compressed bytes hold ~10%; a page with a stray NUL in its title, ~0%
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what XML-based HTML parsers refuse
_LEGACY_ERROR_SHARE = 0.02


def looks_binary(payload: bytes) -> bool:
    """A binary file's magic number, or a share of control bytes no text has, in the head of the payload."""
    head = payload[:_SNIFF_BYTES]
    if head.startswith(_BINARY_MAGIC) or head[4:8] == b"ftyp":  # ftyp: MP4 / QuickTime / HEIF
        return True
    if head.startswith(_UTF16_BOMS) or _looks_utf16(head):
        return False
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > _CONTROL_SHARE * len(head)


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 markup without a byte order mark: every other byte is NUL (ASCII-range characters)."""
    half = len(head) // 2
    return half >= 8 and max(head[0::2].count(0), head[1::2].count(0)) > 0.9 * half


@dataclass(frozen=True)
class _Reading:
    """A payload decoded with one codec, and how well the bytes fit it."""

    codec: str
    text: str
    invalid: int  # invalid byte sequences (each became one U+FFFD)
    well_formed: int  # non-ASCII characters decoded from valid sequences

    @classmethod
    def of(cls, payload: bytes, codec: str) -> _Reading:
        text = payload.decode(codec, "replace")
        genuine = payload.count(b"\xef\xbf\xbd") if codec == "utf-8" else 0  # U+FFFD written in the page itself
        invalid = text.count("\ufffd") - genuine
        non_ascii = len(text) - len(text.encode("ascii", "ignore"))
        return cls(codec, text, invalid, non_ascii - invalid)

    @property
    def plausible(self) -> bool:
        if self.codec == "utf-8":
            return self.invalid <= self.well_formed
        return self.invalid <= _LEGACY_ERROR_SHARE * self.well_formed


def decode_html(payload: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode an HTML payload; returns (text, codec used). Never raises: the last resort replaces bytes.

    C0 control characters (NUL included) are removed from the text: HTML parsers ignore or reject them.
    """
    text, codec = _decode(payload, content_type)
    return _CONTROL_CHARACTERS.sub("", text), codec


def _decode(payload: bytes, content_type: str | None) -> tuple[str, str]:
    for bom, codec in _BOMS:
        if payload.startswith(bom):
            return payload[len(bom) :].decode(codec, "replace"), codec
    declared = (charset_from_content_type(content_type), *charsets_from_meta(payload))
    labels = list(dict.fromkeys(label for label in declared if label))
    utf8 = _Reading.of(payload, "utf-8")
    if utf8.invalid == 0 and (utf8.well_formed or not labels):
        return utf8.text, "utf-8"  # valid UTF-8 with non-ASCII text is UTF-8, whatever the label says
    readings = [utf8 if label == "utf-8" else _Reading.of(payload, label) for label in labels]
    for reading in [*readings, utf8]:  # UTF-8 with a few bad bytes needs no label either
        if reading.plausible:
            return reading.text, reading.codec
    best = from_bytes(payload[:65536]).best()
    detected = normalise_charset(best.encoding) if best is not None else None
    if detected:
        readings.append(utf8 if detected == "utf-8" else _Reading.of(payload, detected))
    least_invalid = min(readings or [utf8], key=lambda reading: reading.invalid)
    return least_invalid.text, least_invalid.codec
