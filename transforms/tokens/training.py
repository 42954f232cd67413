"""The tokenizer's training, the pure half: a bounded uniform sample of the corpus (per language if asked), its
sentences, and SentencePiece training with the settings that keep encoding exact. No Beam here."""

from __future__ import annotations

import heapq
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow.parquet as pq
import sentencepiece as spm
from ccrefine.transforms.tokens.encoding import BOS, EOD, FIM_PIECES, PAD, UNK, TokenizerError, keyed_hash

# ---- the training sample ---------------------------------------------------------------------------------------


def iter_parquet_documents(handle, columns=("id", "text"), batch_size: int = 1024) -> Iterator[tuple]:
    """The `columns` of every row of a corpus Parquet file, streamed in record batches (only those columns are read);
    a column the file lacks reads as None."""
    parquet = pq.ParquetFile(handle)
    present = [name for name in columns if name in parquet.schema_arrow.names]
    for batch in parquet.iter_batches(batch_size=batch_size, columns=present):
        values = [batch.column(name).to_pylist() if name in present else [None] * batch.num_rows for name in columns]
        yield from zip(*values, strict=True)


class TrainingSample:
    """A uniform sample without replacement of the documents offered, bounded by documents or characters.

    Each document gets a pseudo-random priority from a seeded hash of its id and the sample keeps the lowest
    priorities until the budget is reached (bottom-k sampling): memory stays near the budget, and the sample does
    not depend on the order the files are read in.
    """

    def __init__(self, budget: int, unit: str = "documents", seed: int = 0):
        if budget < 1 or unit not in ("documents", "characters"):
            raise ValueError(f"a sample needs a positive budget in documents or characters, got {budget} {unit}")
        self.budget, self.unit, self._purpose = budget, unit, f"sample{seed}"
        self._heap: list[tuple[int, str, str]] = []  # (-priority, id, text): the highest priority on top
        self._size = 0
        self.offered = 0

    def _size_of(self, text: str) -> int:
        return 1 if self.unit == "documents" else len(text)

    def offer(self, doc_id: str, text: str | None) -> None:
        if not text:
            return
        self.offered += 1
        heapq.heappush(self._heap, (-keyed_hash(doc_id, self._purpose), doc_id, text))
        self._size += self._size_of(text)
        # Drop the highest priority while the others alone still fill the budget.
        while len(self._heap) > 1 and self._size - self._size_of(self._heap[0][2]) >= self.budget:
            self._size -= self._size_of(heapq.heappop(self._heap)[2])

    def texts(self) -> list[str]:
        """The sampled texts in priority order (a deterministic order for the trainer)."""
        return [text for _, _, text in sorted(self._heap, reverse=True)]

    @property
    def documents(self) -> int:
        return len(self._heap)

    @property
    def characters(self) -> int:
        return sum(len(text) for _, _, text in self._heap)


class LanguageSample:
    """Training samples per language sharing one budget: each language in `shares` gets its fraction, all other
    documents the rest. A language that is a small part of the corpus (Chinese in a mostly English crawl) then gets
    enough text for its characters to pass the character coverage and for merges to form; no shares is a uniform
    sample of everything."""

    OTHER = "*"

    def __init__(self, budget: int, unit: str = "documents", seed: int = 0, shares: dict[str, float] | None = None):
        shares = dict(shares or {})
        rest = 1 - sum(shares.values())
        if any(share <= 0 for share in shares.values()) or rest < -1e-9:
            raise ValueError(f"language shares must be positive and add up to at most 1, got {shares}")
        if rest > 1e-9:
            shares[self.OTHER] = rest
        self.samples = {lang: TrainingSample(max(1, round(budget * share)), unit, seed)
                        for lang, share in sorted(shares.items())}

    def offer(self, doc_id: str, text: str | None, lang: str | None) -> None:
        sample = self.samples.get(lang or "", self.samples.get(self.OTHER))
        if sample is not None:
            sample.offer(doc_id, text)

    def texts(self) -> list[str]:
        return [text for sample in self.samples.values() for text in sample.texts()]

    def describe(self) -> dict[str, dict[str, int]]:
        return {lang: {"offered": sample.offered, "documents": sample.documents, "characters": sample.characters}
                for lang, sample in self.samples.items()}


def training_sentences(texts: Iterable[str], max_sentence_bytes: int) -> Iterator[str]:
    """The lines of each text, as SentencePiece's sentences.

    SentencePiece reads one sentence per line and never learns a newline, so newlines are encoded by the byte
    fallback (<0x0A>, one token, as in LLaMA) and merges never span lines. A line longer than the trainer's
    limit would be skipped silently (long Chinese paragraphs have no spaces), so it is cut into pieces instead.
    """
    chunk = max_sentence_bytes // 4  # a character is at most 4 UTF-8 bytes
    for text in texts:
        for line in text.split("\n"):
            for start in range(0, len(line), chunk):
                yield line[start : start + chunk]


# ---- training ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainerOptions:
    """What the user chooses about the tokenizer; the settings that keep encoding exact are fixed in
    `train_tokenizer`."""

    model_type: str = "bpe"
    vocab_size: int = 32000
    # Below 1 so the rarest characters (mostly noise) fall back to bytes instead of taking vocabulary slots;
    # 0.9995 still gives the common Han characters pieces of their own (SentencePiece's advice for CJK).
    character_coverage: float = 0.9995
    max_sentence_bytes: int = 16384
    threads: int = os.cpu_count() or 1


def train_tokenizer(sentences: Iterable[str], options: TrainerOptions) -> bytes:
    """Train a SentencePiece model on `sentences`; returns the serialized model."""
    if options.model_type not in ("bpe", "unigram"):
        raise TokenizerError(f"model type must be bpe or unigram, got {options.model_type!r}")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type=options.model_type,
            vocab_size=options.vocab_size,
            character_coverage=options.character_coverage,
            max_sentence_length=options.max_sentence_bytes,
            num_threads=options.threads,
            byte_fallback=True,  # no <unk>: every character is representable
            split_digits=True,  # numbers as digits, as in LLaMA
            # Exact round trip: no NFKC, no dummy leading space, whitespace kept as written.
            normalization_rule_name="identity",
            add_dummy_prefix=False,
            remove_extra_whitespaces=False,
            allow_whitespace_only_pieces=True,  # runs of spaces (indentation) become pieces
            unk_id=0, bos_id=1, eos_id=2, pad_id=3,
            unk_piece=UNK, bos_piece=BOS, eos_piece=EOD, pad_piece=PAD,
            control_symbols=list(FIM_PIECES),
            minloglevel=2,
        )
    except RuntimeError as exc:
        if "required_chars" in str(exc):
            fix = ("the vocabulary cannot hold every covered character: raise the vocabulary size or lower the "
                   "character coverage")
        else:
            fix = "too little text for this vocabulary: lower the vocabulary size or sample more text"
        raise TokenizerError(f"SentencePiece could not train ({str(exc).strip()}); {fix}") from exc
    return model.getvalue()
