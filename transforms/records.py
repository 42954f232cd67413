"""The three record types every stage passes around, and their Parquet rows.

`Page` is what the crawl reader emits, `Document` what every later stage works on, and `Rejected`
explains one record that a stage dropped. The document id (the WARC-Record-ID) is the key of every join.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class Page:
    """One crawl record worth extracting: an HTML response (WARC/ARC) or a plain-text conversion (WET)."""

    id: str
    url: str
    date: str  # ISO-8601, as the crawler wrote it
    dump: str  # crawl name, e.g. CC-MAIN-2024-22; empty when unknown
    content_type: str  # the MIME type the decision was based on
    charset: str  # the encoding the payload was decoded with
    html: str | None  # decoded HTML (WARC/ARC responses)
    text: str | None  # plain text (WET conversion records)
    source: str  # file the record came from
    offset: int  # byte offset of the record in that file


@dataclass(frozen=True)
class Document:
    """One document's text plus everything the stages learned about it."""

    id: str
    url: str
    date: str
    dump: str
    text: str
    lang: str = ""
    lang_score: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    source: str = ""
    offset: int = 0

    def with_scores(self, scores: dict[str, float], **changes) -> Document:
        """A copy with `scores` merged in (later stages may overwrite a key) and other fields changed."""
        return dataclasses.replace(self, scores={**self.scores, **scores}, **changes)


@dataclass(frozen=True)
class Rejected:
    """Why one record left the pipeline: the stage, the reason, the scores that decided it, where it was."""

    id: str
    url: str
    stage: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    source: str = ""
    offset: int = 0
    excerpt: str = ""  # the start of the text, so a reviewer can judge the decision
    detail: str = ""  # what matched, when the reason alone does not say (a domain, a word)

    @classmethod
    def of(cls, record: Page | Document, stage: str, reason: str, detail: str = ""):
        text = record.text or ""
        return cls(
            id=record.id,
            url=record.url,
            stage=stage,
            reason=reason,
            scores=dict(getattr(record, "scores", {})),
            source=record.source,
            offset=record.offset,
            excerpt=text[:EXCERPT_CHARS],
            detail=detail,
        )


EXCERPT_CHARS = 500

_SCORES = pa.map_(pa.string(), pa.float64())

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("date", pa.string()),
        pa.field("dump", pa.string()),
        pa.field("text", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float32()),
        pa.field("scores", _SCORES),
        pa.field("source", pa.string()),
        pa.field("offset", pa.int64()),
    ]
)

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("url", pa.string()),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("scores", _SCORES),
        pa.field("source", pa.string()),
        pa.field("offset", pa.int64()),
        pa.field("excerpt", pa.string()),
        pa.field("detail", pa.string()),
    ]
)


def to_row(record: Document | Rejected) -> dict:
    """The Parquet row of a record (maps are written as lists of pairs, as pyarrow expects)."""
    row = dataclasses.asdict(record)
    row["scores"] = list(row["scores"].items())
    return row


def document_from_row(row: dict) -> Document:
    """Rebuild a Document from a row read back from Parquet (scores come back as pairs or a dict)."""
    values = {f.name: row.get(f.name) for f in dataclasses.fields(Document) if f.name in row}
    scores = values.get("scores") or {}
    values["scores"] = dict(scores.items() if isinstance(scores, dict) else scores)
    return Document(**values)


def pack_record(record: Document | Rejected) -> bytes:
    """A record as one bytes object, for grouped values (joins, shard writes): a runner that holds them in memory
    (the DirectRunner) then keeps one object of about the text's size instead of a decoded record of ~1.6x that.
    (zlib would halve it again but costs 90 us a page, 12x the pickling.)"""
    return pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_record(packed: bytes) -> Document | Rejected:
    return pickle.loads(packed)
