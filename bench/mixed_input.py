"""Common-Crawl-like benchmark inputs built deterministically from the real fixtures, written as WARC files.

    python bench/mixed_input.py --output DIR [--pages 1200] [--english-only]

The language mix follows Common Crawl's (about 45% English, 5% Chinese, the rest many languages):
- English: the real HTML pages of shared/data/warc (each fixture page several times, each copy a new record), and
  pages made from real English text (UD English-EWT and -PUD sentences, Bierce's Devil's Dictionary) inside
  those pages' real markup;
- Chinese: real Chinese pages from shared/data/zh/html, byte for byte (an even spread over its sources);
- every other language of lid_eval/tatoeba_long.txt (80 after English and Chinese, Gothic and cuneiform
  included): its real sentences inside the fixture pages' markup. Half of these pages are localised whole (menus
  too); the other half only in their paragraphs, headings and title, with the template's English menus and
  footers left in place, as on many real sites;
- in the mix, a third of the constructed English pages are the reverse: a fixture page's English article kept,
  its menus, links and footers in another language (an English article on a foreign site), the case where a
  cheap look at the whole page is most likely to miss English main text.
`--english-only` writes English pages only (the same two kinds). Record ids and dates are fixed, so the same
arguments always write the same archives. bench/prefilter_language.py measures on them; other benches import
`mixed_pages`, `english_pages` and `write_warcs`.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
from ccrefine.transforms.records import Page
from filters import english_pages as fixture_pages  # the real HTML pages of shared/data/warc, decoded
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

REPOSITORY = Path(__file__).resolve().parents[1]
ENGLISH_SHARE, CHINESE_SHARE = 0.45, 0.05
FIXTURE_COPIES = 4  # each real English fixture page appears this many times in the mix
MIN_TEMPLATE_CHARS = 5000  # fixture pages smaller than this (example.com) have too little markup to fill
WARC_DATE = "2024-05-01T00:00:00Z"
PAGES_PER_FILE = 100
_SKIPPED_TAGS = {"script", "style", "noscript", "code", "pre", "textarea"}
_CONTENT_TAGS = {"title", "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figcaption", "td", "dd"}
_PARTS = ("whole", "content")  # constructed pages alternate between a whole localised page and localised content
_ENGLISH_TEXTS = ("en_ewt_web.dev.txt", "en_ewt_web.test.txt", "en_pud_news_wiki.txt")


@dataclass(frozen=True)
class MixedPage:
    """One page to write: its URL, HTTP payload and headers, and what it was made from."""

    url: str
    payload: bytes
    content_type: str
    language: str  # the language it was made in (`en`, `zh`, a Tatoeba code); fixture pages are `en`
    origin: str  # `fixture`, `zh_html`, `constructed` or `english_in_foreign_chrome`


def chinese_pages(shared: Path) -> list[MixedPage]:
    """Every real Chinese page of shared/data/zh/html, byte for byte, with its URL where the source gives one."""
    root = shared / "zh" / "html"
    indexed = {}
    for index in (root / "magic_html" / "index_with_ground_truth.jsonl", root / "gne" / "index.jsonl"):
        for line in index.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            indexed[index.parent / entry["file"]] = entry
    pages = []
    for path in sorted(root.rglob("*.html")):
        if path.name.endswith("expected.html"):  # readability's expected output, not a crawled page
            continue
        entry = indexed.get(path, {})
        relative = path.relative_to(root).as_posix()
        url = entry.get("url") or f"http://zh-fixtures.invalid/{relative}"
        content_type = f"text/html; charset={entry['encoding']}" if "encoding" in entry else "text/html"
        pages.append(MixedPage(url, path.read_bytes(), content_type, "zh", "zh_html"))
    return pages


def tatoeba_sentences(shared: Path) -> dict[str, list[str]]:
    """Tatoeba sentences by CLD2 code, English and Chinese left out (they come from larger sources)."""
    with (shared / "lid_eval" / "tatoeba_long.txt").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    by_language: dict[str, list[str]] = {}
    for row in rows:
        code = row["CLD2-code"]
        if code not in ("en", "zh", "zh-Hant"):
            by_language.setdefault(code, []).append(row["text"].strip())
    return by_language


def english_sentences(shared: Path) -> list[str]:
    lines = []
    for name in _ENGLISH_TEXTS:
        lines += (shared / "text" / name).read_text(encoding="utf-8").splitlines()
    devils = (shared / "text" / "gutenberg_972_devils_dictionary.txt").read_text(encoding="utf-8")
    lines += [" ".join(block.split()) for block in devils.split("\n\n")]
    return [line.strip() for line in lines if len(line.strip()) > 20]


class _TextStream:
    """Real sentences of one language, handed out in pieces about as long as the text they replace."""

    def __init__(self, sentences: list[str], start: int):
        self._sentences = itertools.cycle(sentences[start % len(sentences):] + sentences[:start % len(sentences)])

    def take(self, chars: int) -> str:
        if chars >= 60:  # a paragraph: whole sentences
            taken: list[str] = []
            while sum(len(s) + 1 for s in taken) < chars:
                taken.append(next(self._sentences))
            return " ".join(taken)
        sentence = next(self._sentences)  # a menu entry or a link: the start of a sentence
        if " " not in sentence:  # scripts written without spaces (Chinese, Japanese, Thai...) are cut by characters
            return sentence[:max(2, chars)]
        words, length = [], 0
        for word in sentence.split():
            if words and length + len(word) > chars:
                break
            words.append(word)
            length += len(word) + 1
        return " ".join(words)


def localise(template: str, language: str, stream: _TextStream, part: str) -> str:
    """The template page with the visible text of one `part` replaced by `language` text: `whole` (every text
    node), `content` (paragraphs, headings, table cells and the title) or `chrome` (everything else: menus,
    links, footers; the template's own main text stays)."""
    root = lxml.html.document_fromstring(template)
    root.set("lang", language)

    def replace(text: str | None) -> str | None:
        if not text or not text.strip():
            return text
        lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
        return lead + stream.take(len(text.strip())) + trail

    def replaced(element) -> bool:
        tags = itertools.chain([element.tag], (ancestor.tag for ancestor in element.iterancestors()))
        in_content = any(tag in _CONTENT_TAGS for tag in tags)
        return part == "whole" or in_content == (part == "content")

    for element in root.iter():
        if not isinstance(element.tag, str) or element.tag in _SKIPPED_TAGS:
            continue
        if replaced(element):
            element.text = replace(element.text)
        parent = element.getparent()  # a tail is text of the parent, after this element
        if parent is not None and parent.tag not in _SKIPPED_TAGS and replaced(parent):
            element.tail = replace(element.tail)
    return lxml.html.tostring(root, encoding="unicode", doctype="<!DOCTYPE html>")


def _constructed(templates: list[Page], language: str, sentences: list[str], serial: int, nth: int,
                 part: str) -> MixedPage:
    """The `nth` page made with `language` text in `part`; `serial` spreads the pages over the templates."""
    template = templates[(serial * 7 + nth) % len(templates)]
    html = localise(template.html, language, _TextStream(sentences, start=nth * 3), part)
    host = urlsplit(template.url).netloc
    if part == "chrome":  # the template's English article on a site localised into `language`
        return MixedPage(f"https://{host}/{language}/en-{nth:04d}.html", html.encode("utf-8"),
                         "text/html; charset=utf-8", "en", "english_in_foreign_chrome")
    return MixedPage(f"https://{host}/{language}/{nth:04d}.html", html.encode("utf-8"), "text/html; charset=utf-8",
                     language, "constructed")


def _fixture_copies(fixtures: list[Page], count: int) -> list[MixedPage]:
    pages = []
    for copy in range(count):
        page = fixtures[copy % len(fixtures)]
        pages.append(MixedPage(page.url, page.html.encode("utf-8"), "text/html; charset=utf-8", "en", "fixture"))
    return pages


def _english(shared: Path, count: int, fixtures: list[Page], templates: list[Page],
             chrome_languages: dict[str, list[str]] | None = None) -> list[MixedPage]:
    """Real fixture pages, then English text in their markup; with `chrome_languages`, every third constructed
    page keeps its English article inside menus and footers in one of those languages instead."""
    real = _fixture_copies(fixtures, min(count, FIXTURE_COPIES * len(fixtures)))
    sentences = english_sentences(shared)
    languages = sorted(chrome_languages or {})
    made = []
    for serial in range(count - len(real)):
        if languages and serial % 3 == 2:
            language = languages[(serial // 3) % len(languages)]
            made.append(_constructed(templates, language, chrome_languages[language], serial, serial, "chrome"))
        else:
            made.append(_constructed(templates, "en", sentences, serial, serial * 41, _PARTS[serial % 2]))
    return real + made


def mixed_pages(shared: Path, total: int = 1200) -> list[MixedPage]:
    """`total` pages: 45% English, 5% real Chinese pages, the rest spread evenly over 80 other languages."""
    fixtures = fixture_pages(shared)
    templates = [page for page in fixtures if len(page.html) >= MIN_TEMPLATE_CHARS]
    chinese = chinese_pages(shared)
    chinese_count = min(round(total * CHINESE_SHARE), len(chinese))
    by_language = tatoeba_sentences(shared)
    pages = _english(shared, round(total * ENGLISH_SHARE), fixtures, templates, by_language)
    step = len(chinese) / chinese_count
    pages += [chinese[int(i * step)] for i in range(chinese_count)]
    languages = sorted(by_language)
    for serial in range(total - len(pages)):
        language, nth = languages[serial % len(languages)], serial // len(languages)
        pages.append(_constructed(templates, language, by_language[language], serial, nth, _PARTS[nth % 2]))
    return _interleaved(pages)


def english_pages(shared: Path, total: int = 1000) -> list[MixedPage]:
    """`total` English pages: the real fixture pages (several copies each) and real English text in their markup."""
    fixtures = fixture_pages(shared)
    templates = [page for page in fixtures if len(page.html) >= MIN_TEMPLATE_CHARS]
    return _interleaved(_english(shared, total, fixtures, templates))


def _interleaved(pages: list[MixedPage]) -> list[MixedPage]:
    """A fixed shuffle, so every archive holds a similar mix (as a crawl segment does)."""
    order = sorted(range(len(pages)), key=lambda i: uuid.uuid5(uuid.NAMESPACE_OID, f"order/{i}").hex)
    return [pages[i] for i in order]


def record_id(index: int) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'ccrefine-bench/{index}')}>"


def write_warcs(pages: list[MixedPage], folder: Path, prefix: str = "mixed") -> list[Path]:
    """The pages as gzipped WARC response records, `PAGES_PER_FILE` to a file; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(pages), PAGES_PER_FILE):
        path = folder / f"{prefix}-{start // PAGES_PER_FILE:05d}.warc.gz"
        with path.open("wb") as stream:
            writer = WARCWriter(stream, gzip=True)
            for index, page in enumerate(pages[start:start + PAGES_PER_FILE], start=start):
                http = StatusAndHeaders("200 OK", [("Content-Type", page.content_type),
                                                   ("Content-Length", str(len(page.payload)))], protocol="HTTP/1.1")
                headers = {"WARC-Record-ID": record_id(index), "WARC-Date": WARC_DATE}
                writer.write_record(writer.create_warc_record(page.url, "response", payload=io.BytesIO(page.payload),
                                                              http_headers=http, warc_headers_dict=headers))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared" / "data")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--pages", type=int, default=1200)
    parser.add_argument("--english-only", action="store_true")
    args = parser.parse_args()
    pages = english_pages(args.shared, args.pages) if args.english_only else mixed_pages(args.shared, args.pages)
    paths = write_warcs(pages, args.output, "english" if args.english_only else "mixed")
    counts: dict[str, int] = {}
    for page in pages:
        counts[page.language] = counts.get(page.language, 0) + 1
    others = set(counts) - {"en", "zh"}
    print(f"{len(pages)} pages in {len(paths)} archives under {args.output}: {counts.get('en', 0)} English, "
          f"{counts.get('zh', 0)} Chinese, {sum(counts[code] for code in others)} in {len(others)} other languages")


if __name__ == "__main__":
    main()
