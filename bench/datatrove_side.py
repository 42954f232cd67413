"""datatrove's FineWeb pipeline on the same archives as ccrefine, for bench/compare_datatrove.py.

Needs the bench extra (datatrove 0.10.1, spaCy, libmagic). The pipeline is FineWeb's: WarcReader -> URLFilter ->
Trafilatura(favour_precision) -> LanguageFilter(en, 0.65) -> GopherRepetitionFilter -> GopherQualityFilter ->
C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter -> PIIFormatter, with the same lid.176
model as ccrefine, the same URL lists, and trafilatura's settings made equal to ccrefine's (its cross-page
`deduplicate` cache off: with it a page's text depends on the pages read before it).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path


def clean_id(record_id: str) -> str:
    return record_id.strip().removeprefix("<").removesuffix(">")


def datatrove_steps(blocklists: list[str], extract_timeout_s: float) -> dict[str, object]:
    """The FineWeb steps, given ccrefine's URL word lists and the `domains` / `urls` files ccrefine loads too."""
    try:
        from datatrove.pipeline.extractors import Trafilatura
        from datatrove.pipeline.filters import (
            C4QualityFilter,
            FineWebQualityFilter,
            GopherQualityFilter,
            GopherRepetitionFilter,
            LanguageFilter,
            URLFilter,
        )
        from datatrove.pipeline.formatters import PIIFormatter
        from datatrove.utils.lid import FT176LID
    except ImportError as exc:
        raise SystemExit(f"datatrove is not importable ({exc}): pip install -e '.[bench]'") from None
    from ccrefine.transforms.filters.language import bundled_model_path
    from ccrefine.transforms.filters.url_filter import LISTS_DIR

    FT176LID.MODEL_URL = bundled_model_path()  # the same lid.176.ftz as ours, copied locally, no download
    domains, urls = (Path(path).read_text(encoding="utf-8").splitlines() for path in blocklists)
    words = {name: _words(LISTS_DIR / f"{name}.txt") for name in ("banned_words", "banned_subwords",
                                                                  "soft_banned_words")}
    return {
        "url_filter": URLFilter(extra_domains=domains, extra_urls=urls, banned_words=words["banned_words"],
                                banned_subwords=words["banned_subwords"],
                                soft_banned_words=words["soft_banned_words"], use_integrated_lists=False),
        "extract": Trafilatura(favour_precision=True, deduplicate=False, timeout=extract_timeout_s),
        "language": LanguageFilter(languages=["en"], language_threshold=0.65),
        "repetition": GopherRepetitionFilter(),
        "quality": GopherQualityFilter(),
        "c4": C4QualityFilter(filter_no_terminal_punct=False),
        "fineweb": FineWebQualityFilter(),
        "pii": PIIFormatter(),
    }


def _words(path) -> list[str]:
    """A ccrefine word list for datatrove: its Chinese entries left out, since datatrove's normalisation turns
    them into an empty word, which matches every URL (ccrefine matches them anywhere in the URL)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#") and line.isascii()]


def run_datatrove(folder: Path, steps: dict[str, object]):
    """The pipeline on every archive of `folder`, after one warm-up page through every step.

    Returns (outcome per record id, copies read per id, extractor timeouts per id, seconds per step in the
    steady state, (wall, CPU) at the end of set-up, documents read)."""
    from datatrove.pipeline.readers import WarcReader
    from loguru import logger
    from measure import cpu_seconds

    logger.remove()  # its per-file INFO lines would be timed too
    reader = WarcReader(str(folder), glob_pattern="*.warc.gz")
    first = next(iter(reader.run(None, rank=0, world_size=1)))
    _drain(steps, iter([first]))  # pays the lazy loads: LID model, spaCy tokenizers, the extractor's process
    setup_done = (time.perf_counter(), cpu_seconds())
    warm = {name: step.stats.time_stats.total for name, step in steps.items()}

    read, timeouts, last = Counter(), Counter(), {"id": ""}
    logger.add(lambda message: timeouts.update([last["id"]]), level="WARNING",
               filter=lambda record: "Timeout while cleaning" in record["message"])

    def tracked(documents):
        for document in documents:
            last["id"] = clean_id(document.id)
            read[last["id"]] += 1
            yield document

    reader = WarcReader(str(folder), glob_pattern="*.warc.gz")
    before = time.perf_counter()
    data = tracked(reader.run(None, rank=0, world_size=1))
    kept = {clean_id(document.id) for document in _drain(steps, data)}
    elapsed = time.perf_counter() - before
    stage_seconds = {name: step.stats.time_stats.total - warm[name] for name, step in steps.items()}
    stage_seconds = {"read and the rest": elapsed - sum(stage_seconds.values()), **stage_seconds}
    reasons = {record_id: "kept" if record_id in kept else "dropped" for record_id in read}
    return reasons, read, timeouts, stage_seconds, setup_done, sum(read.values())


def _drain(steps: dict[str, object], data):
    for step in steps.values():
        data = step.run(data, rank=0, world_size=1)
    return list(data)


def pages_by_id(folder: Path, wanted: set[str]) -> dict:
    """ccrefine's Page for each wanted record id (the first copy), to re-run or explain a difference."""
    from ccrefine.transforms.read.crawl import read_crawl_file
    from ccrefine.transforms.records import Page

    pages = {}
    for path in sorted(folder.glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in read_crawl_file(stream, str(path)):
                if isinstance(record, Page) and record.id in wanted and record.id not in pages:
                    pages[record.id] = record
        if len(pages) == len(wanted):
            break
    return pages


def datatrove_reason(page, blocklists: list[str], extract_timeout_s: float) -> str:
    """Which datatrove step drops one page, re-run step by step."""
    from datatrove.data import Document as DatatroveDocument

    steps = datatrove_steps(blocklists, extract_timeout_s)
    document = DatatroveDocument(text=page.html or page.text or "", id=page.id, metadata={"url": page.url})
    for name, step in steps.items():
        if name == "extract":
            document.text = step.extract(document.text) or ""
            if not document.text:
                return "extract.empty"
            continue
        if name == "pii":
            continue
        verdict = step.filter(document)
        keep, reason = verdict if isinstance(verdict, tuple) else (verdict, "")
        if not keep:
            return f"{name}.{reason or 'dropped'}"
    return "kept"


def sniffed_type(html: str) -> str:
    """What libmagic calls a payload: datatrove's reader uses it when the WARC header gives no payload type."""
    import magic

    return magic.from_buffer(html.encode("utf-8", "replace"), mime=True)


def deliberate_difference(record_id: str, ours: dict[str, str], theirs: dict, page) -> str:
    """Why a page is kept by one side only when that is a deliberate ccrefine behaviour, else "".

    `ours` maps record ids to ccrefine's outcome (`kept`, `<stage>.<reason>`, `read.<reason>`); `theirs` is the
    datatrove side's result (`read`: copies read per id, `timeouts`: extractor timeouts per id)."""
    if record_id in ours and record_id not in theirs["read"]:
        return (f"datatrove's WarcReader skips it: no WARC-Identified-Payload-Type header and libmagic sniffs "
                f"{sniffed_type(page.html or '') if page else 'something else'}; ccrefine reads the HTTP "
                "Content-Type (text/html)")
    if record_id not in ours or ours[record_id].startswith("read."):
        return (f"ccrefine's reader drops it ({ours.get(record_id, 'not an HTML page')}); "
                "datatrove's reader keeps every HTML response")
    copies = theirs["read"][record_id]
    if theirs["reasons"].get(record_id) != "kept" and theirs["timeouts"].get(record_id, 0) == copies:
        return f"datatrove's extractor timed out on all {copies} copies"
    return ""
