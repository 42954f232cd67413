"""Undoing an HTTP Content-Encoding (gzip, deflate, br, zstd) without ever producing more than a limit.

Crawlers store the payload as the server sent it, so a compressed response must be inflated before it can be
decoded; the output is capped so that a small compressed bomb cannot exhaust a worker's memory.
Some crawlers store the payload already decoded but keep the header: data that does not even start like the
named coding is taken as it is, and the binary check decides on it afterwards.
"""

from __future__ import annotations

import io
import zlib

import brotli
import zstandard

IDENTITY = frozenset({"", "identity", "none"})


class UnsupportedEncoding(ValueError):
    """A Content-Encoding this reader does not undo: several stacked codings, or an unknown one."""


class Oversized(ValueError):
    """The decoded payload would be larger than the limit."""


def decode_content(payload: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The payload with its Content-Encoding undone, at most `limit` bytes (else `Oversized`).

    Raises `UnsupportedEncoding` for stacked or unknown codings, and `zlib.error` / `zstandard.ZstdError` for a
    gzip or zstd stream that breaks after its magic number (br and deflate have none: a stream that does not
    decode is passed on as it is, and the binary check rejects it if it is not text).
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c not in IDENTITY]
    if not codings:
        return payload
    if len(codings) > 1:
        raise UnsupportedEncoding(content_encoding)
    decoder = _DECODERS.get(codings[0])
    if decoder is None:
        raise UnsupportedEncoding(content_encoding)
    decoded = decoder(payload, limit + 1)
    if decoded is None:  # does not start like the coding: stored decoded
        return payload
    if len(decoded) > limit:
        raise Oversized(f"{codings[0]} payload inflates past {limit} bytes")
    return decoded


def _gzip(payload: bytes, cap: int) -> bytes | None:
    if not payload.startswith(b"\x1f\x8b"):
        return None
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload, cap)


def _deflate(payload: bytes, cap: int) -> bytes | None:
    # RFC 9110 means zlib-wrapped deflate, but many servers send raw deflate: tell them apart by the zlib header.
    zlib_wrapped = len(payload) >= 2 and payload[0] & 0x0F == 8 and (payload[0] << 8 | payload[1]) % 31 == 0
    try:
        return zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS).decompress(payload, cap)
    except zlib.error:
        return None  # raw deflate has no magic number: not deflate after all


def _brotli(payload: bytes, cap: int) -> bytes | None:
    try:
        return brotli.Decompressor().process(payload, output_buffer_limit=cap)
    except brotli.error:
        return None  # brotli has no magic number either


def _zstd(payload: bytes, cap: int) -> bytes | None:
    if not payload.startswith(b"\x28\xb5\x2f\xfd"):
        return None
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(payload))
    out = bytearray()
    while len(out) < cap and (chunk := reader.read(cap - len(out))):
        out += chunk
    return bytes(out)


_DECODERS = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "br": _brotli, "zstd": _zstd}
