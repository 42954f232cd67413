"""The crawl reader on damaged, old and hostile archives: what survives and what a user is told (issue 16).

Every case builds an archive with warcio (tests/transforms/reader_archives.py), damages it or makes it odd,
and reads it with `read_crawl_file` in a fresh child process. A good record is one the damage did not touch;
it counts as recovered when a Page with its URL comes back holding its text, with U+FFFD only for bad bytes.
Peak RSS is the child's VmHWM (its ru_maxrss would inherit the parent's), next to a child reading a clean
archive of the same pages. Reasons are the `read.dropped.<reason>` counts of the run (warcinfo and request
records left out).

    python bench/reader_faults.py
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import zstandard

REPO = Path(__file__).resolve().parent.parent

from tests.transforms.reader_archives import (  # noqa: E402
    CHINESE,
    FRENCH,
    JAPANESE,
    Doc,
    arc,
    record_starts,
    warc,
    wet_characters,
    with_content_length,
    with_garbage_between_records,
)

CHILD = r"""
import io, json, re, sys
from collections import Counter
from ccrefine.transforms.read.crawl import read_crawl_file
from ccrefine.transforms.records import Page
expected = json.load(open(sys.argv[2]))
with open(sys.argv[1], "rb") as stream:
    items = list(read_crawl_file(stream, sys.argv[1]))
pages = {}
for item in items:
    if isinstance(item, Page):
        pages.setdefault(item.url, []).append(item.html or item.text)
recovered = sum(1 for url, (marker, replaced) in expected.items()
                for body in pages.get(url, [])[:1] if marker in body and body.count("\ufffd") == replaced)
ids = [item.id for item in items if isinstance(item, Page)]
reasons = Counter(i.reason for i in items if not isinstance(i, Page) and i.reason not in ("warcinfo", "request"))
print(json.dumps({"recovered": recovered, "pages": len(ids), "unique_ids": len(set(ids)), "reasons": reasons,
                  "rss_mb": int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024}))
"""


def docs(count: int = 30) -> list[Doc]:
    """`count` pages in five languages and four encodings, each with its own URL and marker text."""
    kinds = [("euc_jp", JAPANESE), ("shift_jis", JAPANESE), ("utf-8", FRENCH), ("gb2312", CHINESE),
             ("utf-8", "An English paragraph about archives. " * 30)]
    out = []
    for number in range(count):
        encoding, text = kinds[number % len(kinds)]
        marker = f"page {number}: {text}"
        html = f"<html><head><title>{number}</title></head><body><p>{marker}</p></body></html>".encode(encoding)
        out.append(Doc(f"http://site{number}.example.org/p.html", html, f"text/html; charset={encoding}"))
    return out


def expected(pages: list[Doc], skip: set[str] = frozenset()) -> dict[str, str]:
    return {d.url: d.html.decode(d.content_type.split("charset=")[1])[-60:-30] for d in pages if d.url not in skip}


def flip(data: bytes, start: int, count: int = 5) -> bytes:
    damaged = bytearray(data)
    for position in random.Random(start).sample(range(start + 20, start + 200), count):
        damaged[position] ^= 0xFF
    return bytes(damaged)


def encoded(doc: Doc, coding: str) -> Doc:
    compress = {"br": brotli.compress, "zstd": zstandard.ZstdCompressor().compress, "gzip": gzip.compress,
                "deflate": lambda b: zlib.compress(b)[2:-4]}[coding]
    return Doc(doc.url, compress(doc.html), doc.content_type, coding)


def cases():
    pages = docs()
    good = expected(pages)
    plain = warc("1.0", pages, "none", extra_records=False)
    members = warc("1.0", pages, "members", extra_records=False)
    starts = record_starts(members, "members")
    yield "clean WARC/1.0, gzip per record", members, good
    yield "WARC/0.17 (Heritrix 1.14), gzip per record", warc("0.17", pages), good
    yield "WARC/0.18 (ClueWeb09), whole-file gzip", warc("0.18", pages, "stream"), good
    yield "WARC/1.1, uncompressed", warc("1.1", pages, "none"), good
    yield "ARC v1, uncompressed", arc(pages), good
    yield "ARC v1, gzip per record", arc(pages, gzipped=True), good
    yield "ARC v2 (10 header fields), gzip per record", arc(pages, gzipped=True, version=2), good
    broken_arc = arc(pages).replace(b"192.0.2.4 20080301000003 text/html ", b"192.0.2.4 20080301000003 text/html x")
    yield "ARC v1, uncompressed, one broken header", broken_arc, expected(pages, {pages[3].url})
    plain_starts = record_starts(plain, "none")
    concatenated = b"".join(gzip.compress(plain[a:b]) for a, b in zip(plain_starts[:11], plain_starts[1:12],
                                                                        strict=True)) + gzip.compress(
        plain[plain_starts[11]:])
    yield "per-record gzip, then one member holding 20 records (`cat`)", concatenated, good
    cut = starts[16] + 100
    yield "truncated mid-record (gzip)", members[:cut], expected(pages[:15])
    plain_cut = record_starts(plain, "none")[16] + 100
    yield "truncated mid-record (plain)", plain[:plain_cut], expected(pages[:15])
    yield "5 flipped bytes in one record (gzip)", flip(members, starts[10]), expected(pages, {pages[9].url})
    plain_start = record_starts(plain, "none")[10]
    yield "5 flipped bytes in one record (plain)", flip(plain, plain_start), expected(pages, {pages[9].url})
    length = len(plain)  # any wrong value: re-read by boundaries
    yield "Content-Length too short (plain)", with_content_length(plain, 5, 100), good
    yield "Content-Length too long (plain)", with_content_length(plain, 5, length // 3), good
    yield "garbage between records (gzip)", with_garbage_between_records(members, "members"), good
    yield "garbage between records (plain)", with_garbage_between_records(plain, "none"), good
    texts = [FRENCH * 3, CHINESE * 4, JAPANESE * 2]
    wet = {f"http://www.example.org/{n}": t[-30:] for n, t in enumerate(texts)}
    yield "cc_net WET, lengths in characters (plain)", wet_characters(texts), wet
    yield "cc_net WET, lengths in characters (gzip)", wet_characters(texts, gzipped=True), wet
    many = [f"{FRENCH} {number}" for number in range(3000)]
    yield "cc_net WET, 3,000 records, whole-file gzip", gzip.compress(wet_characters(many)), {
        f"http://www.example.org/{n}": t[-30:] for n, t in enumerate(many)}
    yield "Content-Encoding br / zstd / gzip / raw deflate", warc("1.0", [
        encoded(d, ("br", "zstd", "gzip", "deflate")[n % 4]) for n, d in enumerate(pages)]), good
    yield "gzip bomb (50 MB of spaces in 49 KB) among good pages", warc("1.0", pages[:5] + [
        Doc("http://bomb/", gzip.compress(b"<html>" + b" " * 50_000_000), "text/html", "gzip")]), expected(pages[:5])
    yield "brotli bomb (50 MB in 22 bytes) among good pages", warc("1.0", pages[:5] + [
        Doc("http://bomb/", brotli.compress(b"<html>" + b" " * 50_000_000), "text/html", "br")]), expected(pages[:5])
    nested = b"<html><body>" + b"<div>" * 2_000_000 + b"</body></html>"  # 10 MB
    one_line = b"<html><body><p>" + b"word " * 1_000_000 + b"</p></body></html>"  # 5 MB, no newline
    under_cap = b"<html><body>" + b"<span>" * 300_000 + b"<p>still read</p></body></html>"  # 1.8 MB
    hostile = [Doc("http://nested/", nested, "text/html"), Doc("http://line/", one_line, "text/html"),
               Doc("http://under-cap/", under_cap, "text/html")]
    yield "hostile HTML: 10 MB nested tags, 5 MB line, 1.8 MB nesting", warc("1.0", pages[:5] + hostile), {
        **expected(pages[:5]), "http://under-cap/": "still read"}
    yield "hostile HTML in a plain file with a wrong length", with_content_length(
        warc("1.0", hostile[1:2] + pages[:5], "none", extra_records=False), 1, 1000), expected(pages[:5])
    stray = FRENCH.encode().replace("Montréal".encode(), "Montr\xe9al".encode("latin-1"), 1)
    french = Doc("http://stray/", b"<html><body><p>" + stray + b"</p></body></html>", "text/html; charset=utf-8")
    gbk = Doc("http://gbk/", f"<html><body><p>{CHINESE}</p></body></html>".encode("gbk"), "text/html; charset=utf-8")
    nul = Doc("http://nul/", f"<html><head><title>\x00t\x01</title></head><body><p>{FRENCH}</p></body></html>"
              .encode(), "text/html")
    yield "UTF-8 page with one stray byte; GBK labelled UTF-8; NUL in title", warc("1.0", [french, gbk, nul]), {
        "http://stray/": ("Les élèves de l'école de Montr\ufffdal", 1), "http://gbk/": CHINESE[-20:],
        "http://nul/": FRENCH[-30:]}
    record = members[starts[1] : starts[2]]
    yield "one record repeated 1,000 times (same WARC-Record-ID)", members[: starts[1]] + record * 1000, \
        expected(pages[:1])


def run(name: str, data: bytes, good: dict[str, str], workdir: Path) -> dict:
    path = workdir / "archive"
    path.write_bytes(data)
    markers = {url: value if isinstance(value, tuple) else (value, 0) for url, value in good.items()}
    markers_path = workdir / "expected.json"
    markers_path.write_text(json.dumps(markers))
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), str(markers_path)], capture_output=True,
                            text=True, check=True, cwd=REPO)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clean = None
        print("| fault | good records in | recovered | lost | pages / unique ids | peak RSS MB (clean) | "
              "what the user sees (`read.dropped.<reason>`: count) |")
        print("|---|---|---|---|---|---|---|")
        for name, data, good in cases():
            outcome = run(name, data, good, workdir)
            clean = clean or outcome["rss_mb"]
            reasons = ", ".join(f"`{r}`: {n}" for r, n in sorted(outcome["reasons"].items())) or "none"
            print(f"| {name} | {len(good)} | {outcome['recovered']} | {len(good) - outcome['recovered']} | "
                  f"{outcome['pages']} / {outcome['unique_ids']} | {outcome['rss_mb']:.0f} ({clean:.0f}) | {reasons} |",
                  flush=True)


if __name__ == "__main__":
    main()
