"""The token shard format, the pure half: the dtype, cutting documents into shards, the writer, the memory-mapped
reader, and the manifest of one tokenize run (build and verify). No Beam here.

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
import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ccrefine.transforms.tokens.encoding import SPLIT_RULE, DocumentTokenizer, FimOptions, TokenizerError

IDX_MAGIC = b"CCRTKIDX"
IDX_VERSION = 1
IDX_HEADER = struct.Struct("<8sIIQQ")  # magic, version, bytes per token, documents, tokens
TOKEN_DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


class ShardError(ValueError):
    """A token shard whose files are damaged or do not match each other or the manifest."""


class ManifestError(ValueError):
    """A manifest that does not describe the shards next to it."""


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


def manifest_settings(model: bytes, model_path: str, tokenizer: DocumentTokenizer, dtype: np.dtype,
                      val_fraction: float, max_tokens_per_shard: int, fim: FimOptions) -> dict:
    """The run's options as the manifest records them; `model_path` is the tokenizer copy, relative to the
    manifest."""
    return {
        "tokenizer": {"path": model_path, "sha256": hashlib.sha256(model).hexdigest(),
                      "vocab_size": tokenizer.vocab_size, "special_ids": tokenizer.special_ids()},
        "dtype": dtype.name,
        "eod_id": tokenizer.eod_id,
        "val_fraction": val_fraction,
        "split_rule": SPLIT_RULE,
        "max_tokens_per_shard": max_tokens_per_shard,
        "fim": {"rate": fim.rate, "seed": fim.seed, "format": "psm", "splits": ["train"]},
    }


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


def sources_without_validation(manifest: dict) -> list[str]:
    """The sources that ended with no validation document although a fraction was held out (a corpus too small
    for the fraction): their validation loss cannot be measured."""
    if manifest["val_fraction"] <= 0:
        return []
    return [name for name, source in manifest["sources"].items() if source["splits"]["val"]["documents"] == 0]
