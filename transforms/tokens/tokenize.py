"""Tokenization, the pure half: the tokenizer's training sample and trainer, exact encoding with an
end-of-document token, fill-in-the-middle, the token shard format and its manifest. No Beam here.

Token shard format (version 1), one pair of files per shard, every integer little-endian:
    NAME.bin  the documents' tokens back to back, each document ending with the end-of-document id;
              no header, so `np.memmap(NAME.bin, dtype)` is the whole token stream.
    NAME.idx  a 32-byte header, then `documents + 1` uint64 offsets (in tokens) into NAME.bin:
              document i is bin[offsets[i]:offsets[i + 1]]; offsets[0] == 0, offsets[-1] == tokens.
              header = magic b"CCRTKIDX", uint32 version, uint32 bytes per token (2 = uint16, 4 = uint32),
                       uint64 documents, uint64 tokens.
A shard normally holds at most `max_tokens_per_shard` tokens; a longer document is written alone in a shard of its
own, so every document stays contiguous and `TokenShard[i]` is always one whole document.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import json
import os
import random
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import sentencepiece as spm

# Control symbols, not user-defined symbols: SentencePiece never produces a control id from text, so a web page
# that contains the literal string "</s>" or "<fim_prefix>" is tokenized as ordinary characters and cannot forge
# a document boundary or a FIM sentinel. The ids are inserted by the code below, never parsed.
UNK, BOS, EOD, PAD = "<unk>", "<s>", "</s>", "<pad>"
FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX = "<fim_prefix>", "<fim_middle>", "<fim_suffix>"
FIM_PIECES = (FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX)

# SentencePiece escapes a space as U+2581 and decodes every U+2581 back to a space, so a literal U+2581 in the
# text is written as its UTF-8 bytes through the byte-fallback pieces, which decode to the character itself.
SPACE_MARK = "\u2581"
SPACE_MARK_BYTES = tuple(f"<0x{b:02X}>" for b in SPACE_MARK.encode())

IDX_MAGIC = b"CCRTKIDX"
IDX_VERSION = 1
IDX_HEADER = struct.Struct("<8sIIQQ")  # magic, version, bytes per token, documents, tokens
TOKEN_DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


class TokenizerError(ValueError):
    """A tokenizer that cannot be used as asked (vocabulary too large for the dtype, missing special pieces)."""


class ShardError(ValueError):
    """A token shard whose files are damaged or do not match each other or the manifest."""


# ---- the training sample ---------------------------------------------------------------------------------------


def keyed_hash(text: str, purpose: str) -> int:
    """A stable 64-bit hash of `text`, independent for each `purpose` (so the validation split, FIM and the training
    sample do not pick correlated documents)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=purpose.encode()).digest()
    return int.from_bytes(digest, "big")


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


# ---- encoding ----------------------------------------------------------------------------------------------------


class DocumentTokenizer:
    """A SentencePiece model that encodes text exactly (decode(encode(text)) == text) and documents with EOD."""

    def __init__(self, model_proto: bytes):
        self.processor = spm.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size = self.processor.vocab_size()
        self.eod_id = self.processor.eos_id()
        if self.eod_id < 0:
            raise TokenizerError(f"the tokenizer has no end-of-document piece {EOD}; train it with train-tokenizer")
        self._space_mark_ids = [self.processor.piece_to_id(piece) for piece in SPACE_MARK_BYTES]
        self._fim_ids = tuple(self.special_id(piece) for piece in FIM_PIECES)

    def special_id(self, piece: str) -> int | None:
        """The id of a control piece, or None when the model lacks it."""
        found = self.processor.piece_to_id(piece)
        return found if self.processor.is_control(found) else None

    def fim_ids(self) -> tuple[int, int, int]:
        """(prefix, middle, suffix) sentinel ids; a clear error when the model was trained without them."""
        if None in self._fim_ids:
            raise TokenizerError(f"the tokenizer lacks the FIM pieces {', '.join(FIM_PIECES)}; retrain it with "
                                 "train-tokenizer or set the FIM rate to 0")
        return self._fim_ids

    def encode(self, text: str) -> list[int]:
        if SPACE_MARK not in text:
            return self.processor.encode(text)
        ids: list[int] = []
        for index, part in enumerate(text.split(SPACE_MARK)):
            if index:
                ids.extend(self._space_mark_ids)
            ids.extend(self.processor.encode(part))
        return ids

    def decode(self, ids) -> str:
        return self.processor.decode([int(i) for i in ids])


def tokens_per_character(tokenizer: DocumentTokenizer, lines: Iterable[str]) -> float:
    """Tokens per character over `lines` (each encoded on its own, newlines not counted): lower is better."""
    tokens = characters = 0
    for line in lines:
        if line:
            tokens += len(tokenizer.encode(line))
            characters += len(line)
    if not characters:
        raise ValueError("no text to measure tokens per character on")
    return tokens / characters


def is_validation(doc_id: str, val_fraction: float) -> bool:
    """Held-out membership from a hash of the id alone: stable across reruns, shard counts and runners."""
    return keyed_hash(doc_id, "validation") < val_fraction * 2**64


# ---- fill in the middle (Bavarian et al. 2022) -------------------------------------------------------------------


@dataclass(frozen=True)
class FimOptions:
    rate: float = 0.0  # fraction of documents rearranged; the paper trains with 0.5
    seed: int = 0


def fim_cut_points(doc_id: str, length: int, options: FimOptions) -> tuple[int, int] | None:
    """Two character positions splitting a document into prefix / middle / suffix, or None when the document is
    left as it is. Drawn from a generator seeded by the id, so a document is transformed the same way every run."""
    rng = random.Random(keyed_hash(doc_id, f"fim{options.seed}"))
    if rng.random() >= options.rate:
        return None
    start, end = sorted((rng.randint(0, length), rng.randint(0, length)))
    return start, end


def encode_document(tokenizer: DocumentTokenizer, doc_id: str, text: str, fim: FimOptions | None = None) -> list[int]:
    """The tokens of one document followed by EOD; with FIM, possibly rearranged prefix-suffix-middle (PSM):
    <fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle </s>. The three parts are encoded separately, as in
    the paper, so the original text is exactly decode(prefix) + decode(middle) + decode(suffix)."""
    cut = fim_cut_points(doc_id, len(text), fim) if fim and fim.rate > 0 else None
    if cut is None:
        return tokenizer.encode(text) + [tokenizer.eod_id]
    prefix_id, middle_id, suffix_id = tokenizer.fim_ids()
    start, end = cut
    return ([prefix_id] + tokenizer.encode(text[:start]) + [suffix_id] + tokenizer.encode(text[end:])
            + [middle_id] + tokenizer.encode(text[start:end]) + [tokenizer.eod_id])


def undo_fim(tokens: list[int], fim_ids: tuple[int, int, int]) -> tuple[list[int], list[int], list[int]]:
    """(prefix, middle, suffix) tokens of a PSM document (EOD removed); raises ValueError if it is not one."""
    prefix_id, middle_id, suffix_id = fim_ids
    body = list(tokens[:-1])
    if not body or body[0] != prefix_id or body.count(suffix_id) != 1 or body.count(middle_id) != 1:
        raise ValueError("not a PSM document: expected <fim_prefix> ... <fim_suffix> ... <fim_middle> ...")
    suffix_at, middle_at = body.index(suffix_id), body.index(middle_id)
    if suffix_at > middle_at:
        raise ValueError("not a PSM document: <fim_middle> comes before <fim_suffix>")
    return body[1:suffix_at], body[middle_at + 1 :], body[suffix_at + 1 : middle_at]


# ---- token shards ------------------------------------------------------------------------------------------------


def token_dtype(vocab_size: int, requested: str = "auto") -> np.dtype:
    """The shard dtype: uint16 when every id fits (vocab <= 65536), else uint32; an explicit choice is checked."""
    if requested == "auto":
        requested = "uint16" if vocab_size <= 2**16 else "uint32"
    if requested not in TOKEN_DTYPES:
        raise TokenizerError(f"token dtype must be auto, uint16 or uint32, got {requested!r}")
    dtype = TOKEN_DTYPES[requested]
    if vocab_size - 1 > np.iinfo(dtype).max:
        raise TokenizerError(f"a vocabulary of {vocab_size} ids does not fit {requested} (at most "
                             f"{np.iinfo(dtype).max + 1} ids); use dtype uint32 or auto")
    return dtype


def cut_into_shards(documents: Iterable[np.ndarray], max_tokens: int) -> Iterator[list[np.ndarray]]:
    """Consecutive groups of documents of at most `max_tokens` tokens; a longer document forms a group alone."""
    group: list[np.ndarray] = []
    size = 0
    for tokens in documents:
        if group and size + len(tokens) > max_tokens:
            yield group
            group, size = [], 0
        group.append(tokens)
        size += len(tokens)
    if group:
        yield group


@dataclass(frozen=True)
class ShardStats:
    documents: int
    tokens: int
    sha256: str  # of the .bin file


def write_token_shard(bin_file, idx_file, documents: Iterable[np.ndarray], dtype: np.dtype) -> ShardStats:
    """Write documents (token arrays, EOD included) to open binary files in the format described above."""
    digest = hashlib.sha256()
    offsets = [0]
    for tokens in documents:
        data = np.ascontiguousarray(tokens, dtype=dtype).tobytes()
        bin_file.write(data)
        digest.update(data)
        offsets.append(offsets[-1] + len(tokens))
    idx_file.write(IDX_HEADER.pack(IDX_MAGIC, IDX_VERSION, dtype.itemsize, len(offsets) - 1, offsets[-1]))
    idx_file.write(np.asarray(offsets, dtype="<u8").tobytes())
    return ShardStats(len(offsets) - 1, offsets[-1], digest.hexdigest())


def idx_path(bin_path: str | Path) -> Path:
    return Path(bin_path).with_suffix(".idx")


class TokenShard:
    """One shard memory-mapped: `shard[i]` is document i's tokens (EOD included) as a view, no copy."""

    def __init__(self, bin_path: str | Path):
        self.path = Path(bin_path)
        index = idx_path(self.path)
        with index.open("rb") as handle:
            header = handle.read(IDX_HEADER.size)
        if len(header) < IDX_HEADER.size:
            raise ShardError(f"{index}: too short for a token shard index")
        magic, version, itemsize, documents, tokens = IDX_HEADER.unpack(header)
        if magic != IDX_MAGIC or version != IDX_VERSION or itemsize not in (2, 4):
            raise ShardError(f"{index}: not a version {IDX_VERSION} token shard index (magic {magic!r}, "
                             f"version {version}, {itemsize} bytes per token)")
        if index.stat().st_size != IDX_HEADER.size + 8 * (documents + 1):
            raise ShardError(f"{index}: the header says {documents} documents, the file holds another number")
        if documents == 0:
            raise ShardError(f"{index}: holds no documents (a shard is never written empty)")
        self.dtype = np.dtype(f"<u{itemsize}")
        if self.path.stat().st_size != tokens * itemsize:
            raise ShardError(f"{self.path}: {self.path.stat().st_size} bytes, the index says {tokens} tokens "
                             f"of {itemsize} bytes")
        self.offsets = np.memmap(index, dtype="<u8", mode="r", offset=IDX_HEADER.size, shape=(documents + 1,))
        self.tokens = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(tokens,))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(f"document {i} of a shard of {len(self)}")
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def check(self, eod_id: int) -> None:
        """Offsets start at 0, strictly increase (a document holds at least its EOD), end at the token count, and
        every document ends with EOD."""
        offsets = np.asarray(self.offsets)
        if offsets[0] != 0 or offsets[-1] != len(self.tokens) or np.any(np.diff(offsets.astype(np.int64)) <= 0):
            raise ShardError(f"{idx_path(self.path)}: document offsets are not a valid partition of the tokens")
        if np.any(self.tokens[offsets[1:] - 1] != eod_id):
            raise ShardError(f"{self.path}: a document does not end with the end-of-document id {eod_id}")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- the manifest ------------------------------------------------------------------------------------------------

MANIFEST_FORMAT = "ccrefine-token-shards"


def source_mixture(sources: dict[str, dict], train_tokens: dict[str, int], token_budget: int | None) -> dict:
    """Per source: the sampling probability (weights normalised) and the epochs it takes to draw
    `token_budget` training tokens with them (LLaMA's data table); the budget defaults to all training tokens."""
    total_weight = sum(source["weight"] for source in sources.values())
    budget = sum(train_tokens.values()) if token_budget is None else token_budget
    mixture = {}
    for name, source in sources.items():
        probability = source["weight"] / total_weight
        tokens = train_tokens.get(name, 0)
        mixture[name] = {
            "probability": probability,
            # None when the source has no training tokens: it cannot be sampled at all.
            "epochs": probability * budget / tokens if tokens else None,
        }
    return {"token_budget": budget, "sources": mixture}


def build_manifest(shards: list[dict], sources: dict[str, dict], skipped: dict[str, dict[str, int]],
                   settings: dict, token_budget: int | None = None) -> dict:
    """The manifest of one tokenize run. `shards` are {path, split, source, documents, tokens, sha256} with paths
    relative to the manifest; `sources` are {name: {pattern, files, weight}}; `settings` the run's options
    (tokenizer, dtype, eod_id, ...). Everything is in a fixed order, so equal runs give equal bytes."""
    shards = sorted(shards, key=lambda shard: shard["path"])
    totals = {name: {split: {"documents": 0, "tokens": 0} for split in ("train", "val")} for name in sources}
    for shard in shards:
        for key in ("documents", "tokens"):
            totals[shard["source"]][shard["split"]][key] += shard[key]
    train_tokens = {name: totals[name]["train"]["tokens"] for name in sources}
    mixture = source_mixture(sources, train_tokens, token_budget)
    return {
        "format": MANIFEST_FORMAT,
        "version": IDX_VERSION,
        **settings,
        "token_budget": mixture["token_budget"],
        "sources": {
            name: {**sources[name], **mixture["sources"][name], "splits": totals[name],
                   "skipped": dict(sorted(skipped.get(name, {}).items()))}
            for name in sorted(sources)
        },
        "shards": shards,
    }


class ManifestError(ValueError):
    """A manifest that does not describe the shards next to it."""


def verify_manifest(path: str | Path) -> dict:
    """Check every shard a manifest lists (files, header, counts, offsets, EOD, sha256) and the totals; returns the
    manifest, or raises ManifestError listing every mismatch."""
    path = Path(path)
    manifest = json.loads(path.read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path}: not a token shard manifest (format {manifest.get('format')!r})")
    problems = []
    totals: dict[tuple[str, str], list[int]] = {}
    for shard in manifest["shards"]:
        bin_path = path.parent / shard["path"]
        total = totals.setdefault((shard["source"], shard["split"]), [0, 0])
        total[0] += shard["documents"]
        total[1] += shard["tokens"]
        try:
            opened = TokenShard(bin_path)
            opened.check(manifest["eod_id"])
        except (OSError, ShardError) as exc:
            problems.append(str(exc))
            continue
        if opened.dtype != np.dtype(TOKEN_DTYPES[manifest["dtype"]]):
            problems.append(f"{shard['path']}: {opened.dtype.itemsize}-byte tokens, the manifest says "
                            f"{manifest['dtype']}")
        if (len(opened), len(opened.tokens)) != (shard["documents"], shard["tokens"]):
            problems.append(f"{shard['path']}: holds {len(opened)} documents / {len(opened.tokens)} tokens, the "
                            f"manifest says {shard['documents']} / {shard['tokens']}")
        if file_sha256(bin_path) != shard["sha256"]:
            problems.append(f"{shard['path']}: sha256 differs from the manifest (the shard changed after writing)")
    for name, source in manifest["sources"].items():
        for split, counts in source["splits"].items():
            listed = totals.get((name, split), [0, 0])
            if listed != [counts["documents"], counts["tokens"]]:
                problems.append(f"source {name} {split}: the shards add up to {listed[0]} documents / {listed[1]} "
                                f"tokens, the manifest says {counts['documents']} / {counts['tokens']}")
    if problems:
        raise ManifestError(f"{path} does not match its shards; rerun `ccrefine tokenize` into a new folder:\n  "
                            + "\n  ".join(problems))
    return manifest

