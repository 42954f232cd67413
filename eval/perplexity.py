"""Perplexity and bits-per-byte of a model on held-out documents, per source and per language.

Documents come from the validation split of a token-shard manifest (scored as stored: the tokens the model
would have trained on) or from raw text files (one document per file, encoded with the model's tokenizer).
Each document is scored as it is read in training: after an end-of-document token, with long documents cut into
sliding windows (eval.windows). Its text's trailing end-of-document token is not scored, so the loss covers the
text alone.

Bits-per-byte = total NLL in nats / (ln 2 x UTF-8 bytes of the text): it divides by the text, not by tokens, so
models with different tokenizers compare fairly. Loss per token and token perplexity are only comparable
between models that share a tokenizer.
"""

from __future__ import annotations

import functools
import glob
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ccrefine.eval.checkpoints import LoadedModel
from ccrefine.eval.scoring import Piece, score_pieces
from ccrefine.eval.windows import sliding_windows
from ccrefine.pipelines.config_files import read_token_manifest
from ccrefine.transforms.tokens.encoding import DocumentTokenizer
from ccrefine.transforms.tokens.shards import TokenShard

from ccrefine.errors import UsageError

LID_CHARACTERS = 2000  # enough text for fastText to be sure, cheap on long documents
PIECES_PER_CHUNK = 4096  # windows scored together: bounds memory on large validation splits


@dataclass(frozen=True)
class EvalDocument:
    source: str
    language: str
    text: str
    tokens: np.ndarray  # the text's tokens, no end-of-document token


@dataclass
class Totals:
    documents: int = 0
    tokens: int = 0
    bytes: int = 0
    nll: float = 0.0  # nats

    def add(self, tokens: int, n_bytes: int, nll: float) -> None:
        self.documents += 1
        self.tokens += tokens
        self.bytes += n_bytes
        self.nll += nll

    def metrics(self) -> dict[str, float | int]:
        loss = self.nll / self.tokens if self.tokens else math.nan
        return {"documents": self.documents, "tokens": self.tokens, "bytes": self.bytes, "nll": self.nll,
                "loss": loss, "perplexity": math.exp(loss) if self.tokens else math.nan,
                "bits_per_byte": bits_per_byte(self.nll, self.bytes)}


@dataclass
class PerplexityReport:
    by_source: dict[str, Totals] = field(default_factory=dict)
    by_language: dict[str, Totals] = field(default_factory=dict)
    total: Totals = field(default_factory=Totals)

    def add(self, document: EvalDocument, nll: float) -> None:
        n_bytes = len(document.text.encode("utf-8"))
        for group in (self.by_source.setdefault(document.source, Totals()),
                      self.by_language.setdefault(document.language, Totals()), self.total):
            group.add(len(document.tokens), n_bytes, nll)

    def to_dict(self) -> dict:
        return {"by_source": {name: totals.metrics() for name, totals in sorted(self.by_source.items())},
                "by_language": {name: totals.metrics() for name, totals in sorted(self.by_language.items())},
                "total": self.total.metrics()}


def bits_per_byte(nll_nats: float, n_bytes: int) -> float:
    return nll_nats / (math.log(2) * n_bytes) if n_bytes else math.nan


# ---- documents ---------------------------------------------------------------------------------------------------


def manifest_documents(manifest_path: str | Path, vocab_size: int, split: str = "val",
                       max_documents: int | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """(source, tokens without the final end-of-document token) of every document of `split`, shard by shard."""
    manifest_path = Path(manifest_path)
    if not manifest_path.is_file():
        raise UsageError(f"--manifest {manifest_path} does not exist; give the manifest.json ccrefine tokenize wrote")
    manifest = read_token_manifest(manifest_path, "--manifest")
    if manifest["tokenizer"]["vocab_size"] != vocab_size:
        raise UsageError(f"{manifest_path} was tokenized with {manifest['tokenizer']['vocab_size']} ids, the model "
                         f"has {vocab_size}: evaluate on shards made with the model's tokenizer, or on text files "
                         "(--text)")
    records = sorted((r for r in manifest["shards"] if r["split"] == split), key=lambda r: r["path"])
    if not records:
        raise UsageError(f"{manifest_path} has no {split!r} shards; tokenize with --val-fraction > 0")
    taken: dict[str, int] = {}
    for record in records:
        shard = TokenShard(manifest_path.parent / record["path"])
        for index in range(len(shard)):
            if max_documents is not None and taken.get(record["source"], 0) >= max_documents:
                break
            taken[record["source"]] = taken.get(record["source"], 0) + 1
            yield record["source"], np.asarray(shard[index][:-1], dtype=np.int64)


def text_file_sources(specs: list[str]) -> list[tuple[str, Path]]:
    """`[NAME=]GLOB` specs -> (source name, file); a file without a NAME is its own source (its stem)."""
    files = []
    for spec in specs:
        name, equals, pattern = spec.partition("=")
        if not equals:
            name, pattern = "", spec
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise UsageError(f"--text {spec!r} matches no file; check the path or quote the glob")
        files.extend((name or Path(path).stem, Path(path)) for path in matched)
    return files


@functools.cache
def language_identifier():
    """The corpus pipeline's fastText LID model, loaded once per process."""
    from ccrefine.transforms.filters.language import LanguageIdentifier

    return LanguageIdentifier()


def language_of(texts: list[str]) -> list[str]:
    """The LID code of each text."""
    if not texts:
        return []
    predictions = language_identifier().predict([text[:LID_CHARACTERS] for text in texts])
    return [labels[0][0] if labels else "und" for labels in predictions]


def read_utf8(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc}); bits-per-byte counts UTF-8 bytes, convert it first") \
            from None


def text_documents(files: list[tuple[str, Path]], tokenizer: DocumentTokenizer) -> list[EvalDocument]:
    texts = [read_utf8(path) for _, path in files]
    languages = language_of(texts)
    return [EvalDocument(source, language, text, np.asarray(tokenizer.encode(text), dtype=np.int64))
            for (source, _), language, text in zip(files, languages, texts, strict=True)]


def shard_documents(items: Iterable[tuple[str, np.ndarray]], tokenizer: DocumentTokenizer,
                    batch: int = 256) -> Iterator[EvalDocument]:
    """Decode stored tokens to text (for bytes and language), identifying languages a batch at a time."""
    pending: list[tuple[str, np.ndarray]] = []

    def flush() -> Iterator[EvalDocument]:
        texts = [tokenizer.decode(tokens) for _, tokens in pending]
        for (source, tokens), language, text in zip(pending, language_of(texts), texts, strict=True):
            yield EvalDocument(source, language, text, tokens)
        pending.clear()

    for item in items:
        pending.append(item)
        if len(pending) >= batch:
            yield from flush()
    yield from flush()


# ---- scoring -----------------------------------------------------------------------------------------------------


def document_pieces(tokens: np.ndarray, eod_id: int, seq_len: int, stride: int) -> list[Piece]:
    """The windows of one document, after the end-of-document token that precedes every document."""
    sequence = np.concatenate([[eod_id], tokens])
    return [Piece(sequence[w.start : w.end + 1], w.scored_from - w.start - 1)
            for w in sliding_windows(len(sequence), seq_len, stride)]


def score_documents(loaded: LoadedModel, documents: Iterable[EvalDocument], seq_len: int, stride: int,
                    batch_size: int) -> PerplexityReport:
    """NLL of every document, added up per source, per language and in total."""
    if not 1 <= stride <= seq_len:
        raise UsageError(f"--stride must be between 1 and --seq-len ({seq_len}), got {stride}")
    report = PerplexityReport()
    eod = loaded.tokenizer.eod_id
    chunk: list[tuple[EvalDocument, int]] = []  # (document, its number of pieces)
    pieces: list[Piece] = []

    def flush() -> None:
        scores = iter(score_pieces(loaded.model, pieces, batch_size))
        for document, count in chunk:
            report.add(document, -sum(next(scores).logprob for _ in range(count)))
        chunk.clear()
        pieces.clear()

    for document in documents:
        if not len(document.tokens):
            continue
        own = document_pieces(document.tokens, eod, seq_len, stride)
        chunk.append((document, len(own)))
        pieces.extend(own)
        if len(pieces) >= PIECES_PER_CHUNK:
            flush()
    flush()
    if not report.total.documents:
        raise UsageError("no document with text to score")
    return report
