"""datatrove's FineWeb pipeline on the same archives as ccrefine, and the comparison of the two kept sets.

Used by `bench/pipeline.py --compare-datatrove`; needs the bench extra (datatrove 0.10.1, spaCy, libmagic).
The pipeline is FineWeb's: WarcReader -> URLFilter -> Trafilatura(favour_precision) -> LanguageFilter(en, 0.65)
-> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(filter_no_terminal_punct=False) ->
FineWebQualityFilter, with the same lid.176 model as ccrefine and trafilatura's settings made equal to ccrefine's
(its cross-page `deduplicate` cache off: with it a page's text depends on the pages read before it).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DATATROVE_EXTRACT_TIMEOUT_S = 1.0  # datatrove's default, FineWeb's setting


@dataclass
class DatatroveRun:
    seconds: float
    read: Counter = field(default_factory=Counter)  # record id -> copies read
    timeouts: Counter = field(default_factory=Counter)  # record id -> copies the extractor gave up on
    kept: set[str] = field(default_factory=set)  # ids of which at least one copy was kept
    steps: dict[str, object] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return sum(self.read.values())


def clean_id(record_id: str) -> str:
    return record_id.strip().removeprefix("<").removesuffix(">")


def datatrove_steps() -> dict[str, object]:
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
        from datatrove.utils.lid import FT176LID
    except ImportError as exc:
        raise SystemExit(f"datatrove is not importable ({exc}): pip install -e '.[bench]'") from None
    from transforms.language import bundled_model_path

    FT176LID.MODEL_URL = bundled_model_path()  # the same lid.176.ftz as ours, copied locally, no download
    return {
        "url": URLFilter(),
        "extract": Trafilatura(favour_precision=True, deduplicate=False, timeout=DATATROVE_EXTRACT_TIMEOUT_S),
        "language": LanguageFilter(languages=["en"], language_threshold=0.65),
        "repetition": GopherRepetitionFilter(),
        "quality": GopherQualityFilter(),
        "c4": C4QualityFilter(filter_no_terminal_punct=False),
        "fineweb": FineWebQualityFilter(),
    }


def run_datatrove(folder: Path) -> DatatroveRun:
    """datatrove's pipeline in this process on one core, noting which record each extractor timeout hit."""
    from datatrove.pipeline.readers import WarcReader
    from loguru import logger

    steps = datatrove_steps()
    run = DatatroveRun(seconds=0.0, steps=steps)
    current = {"id": ""}

    def note_timeout(message) -> None:  # the extractor logs while the record it pulled last is still current
        run.timeouts[current["id"]] += 1

    sink = logger.add(note_timeout, level="WARNING",
                      filter=lambda record: "Timeout while cleaning" in record["message"])

    def tracked(documents):
        for document in documents:
            current["id"] = clean_id(document.id)
            run.read[current["id"]] += 1
            yield document

    started = time.perf_counter()
    data = tracked(WarcReader(str(folder), glob_pattern="*.warc.gz").run(None, rank=0, world_size=1))
    for step in steps.values():
        data = step.run(data, rank=0, world_size=1)
    run.kept = {clean_id(document.id) for document in data}
    run.seconds = time.perf_counter() - started
    logger.remove(sink)
    return run


def datatrove_reason(steps: dict[str, object], html: str, url: str, record_id: str) -> str:
    """Which datatrove step drops one page, re-run step by step without a time limit."""
    from datatrove.data import Document as DatatroveDocument

    document = DatatroveDocument(text=html, id=record_id, metadata={"url": url})
    for name, step in steps.items():
        if name == "extract":
            document.text = step.extract(document.text) or ""
            if not document.text:
                return "extract.empty"
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


def deliberate_difference(record_id: str, ours: dict[str, str], theirs: DatatroveRun, html: str | None,
                          our_timeout_s: float) -> str:
    """Why a page is kept by one side only when that is a deliberate ccrefine behaviour, else "".

    `ours` maps record ids to ccrefine's outcome (`kept`, `<stage>.<reason>`, `read.<reason>`)."""
    if record_id in ours and record_id not in theirs.read:
        return (f"datatrove's WarcReader skips it: no WARC-Identified-Payload-Type header and libmagic sniffs "
                f"{sniffed_type(html or '')}; ccrefine reads the HTTP Content-Type (text/html)")
    if record_id not in ours or ours[record_id].startswith("read."):
        return (f"ccrefine's reader drops it ({ours.get(record_id, 'not an HTML page')}); "
                "datatrove's reader keeps every HTML response")
    copies = theirs.read[record_id]
    if record_id not in theirs.kept and theirs.timeouts[record_id] == copies:
        return (f"datatrove's extractor timed out on all {copies} copies (its limit: {DATATROVE_EXTRACT_TIMEOUT_S:g} s "
                f"per page); ccrefine allows {our_timeout_s:g} s")
    return ""
