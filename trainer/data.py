"""Training and validation batches from token shards (format: transforms/tokens/shards.py), memory-mapped.

Packing: the training shards of one source, in manifest order, are read back to back as one token stream
and cut into windows of seq_len + 1 tokens that overlap by one (window i starts at token i * seq_len), so
documents are packed across boundaries and every token but the first is a target once per epoch.

Order: global sample g (counted over the whole run, on every rank alike) takes its source from a generator
seeded by (seed, g // ORDER_BLOCK) with the manifest's mixing probabilities, and the next unread window of
that source in a permutation seeded by (seed, source, epoch); a source that runs out starts a new epoch with a
new permutation. The order depends on the seed and the data only, never on batch sizes or the number of ranks.

Ranks: optimizer step t reads global samples [t*G, (t+1)*G), G the global batch; rank r reads the r-th
contiguous G/world of them as its accumulation micro-batches. The cursor (next sample, windows drawn per
source) is the whole state, so a resumed run, with any number of ranks, reads exactly the samples that
come next.

Nothing is loaded into memory beyond one epoch permutation (4 bytes per window) per source: tokens are
copied from the memory maps one batch at a time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from ccrefine.pipelines.config_files import read_token_manifest
from ccrefine.transforms.tokens.shards import TOKEN_DTYPES, ManifestError, ShardError, TokenShard, verify_manifest

from ccrefine.errors import UsageError
from ccrefine.files import require_complete

logger = logging.getLogger(__name__)

ORDER_BLOCK = 8192  # samples whose sources are drawn by one generator


class Batch(NamedTuple):
    """input_ids and targets (the inputs shifted by one), (batch, seq_len) int64; doc_ids numbers the
    documents inside each row (`model.doc_ids_from_eos`): EOD ends its document."""

    input_ids: torch.Tensor
    targets: torch.Tensor
    doc_ids: torch.Tensor


def make_batch(windows: np.ndarray, eod_id: int) -> Batch:
    inputs, targets = windows[:, :-1], windows[:, 1:]
    ends = inputs == eod_id
    doc_ids = np.cumsum(ends, axis=1) - ends
    return Batch(*(torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)) for a in (inputs, targets, doc_ids)))


# ---- the manifest and its shards ---------------------------------------------------------------------------------


def load_manifest(path: str | Path, verify: str = "quick") -> dict:
    """The manifest, after checking its shards: `quick` opens every shard (header, file sizes, counts against the
    manifest), `full` also hashes them and checks offsets and EOD (transforms.tokens.shards.verify_manifest)."""
    path = Path(path)
    manifest = read_token_manifest(path, "data.manifest")
    require_complete(str(path.parent), "data.manifest's folder")  # a killed `ccrefine tokenize` is never trained on
    if verify == "full":
        try:
            return verify_manifest(path)
        except ManifestError as exc:
            raise UsageError(str(exc)) from None
    problems = []
    for record in manifest["shards"]:
        try:
            shard = TokenShard(path.parent / record["path"])
        except FileNotFoundError as exc:
            problems.append(f"{record['path']}: missing ({exc.filename})")
            continue
        except ShardError as exc:
            problems.append(str(exc))
            continue
        if shard.dtype != TOKEN_DTYPES[manifest["dtype"]]:
            problems.append(f"{record['path']}: {shard.dtype.itemsize}-byte tokens, the manifest says "
                            f"{manifest['dtype']}")
        if (len(shard), len(shard.tokens)) != (record["documents"], record["tokens"]):
            problems.append(f"{record['path']}: {len(shard)} documents / {len(shard.tokens)} tokens, the manifest "
                            f"says {record['documents']} / {record['tokens']}")
    if problems:
        raise UsageError(f"{path} does not match its shards (missing or truncated files); re-run `ccrefine "
                         "tokenize` into a new folder or restore the files:\n  " + "\n  ".join(problems))
    return manifest


class TokenStream:
    """Shards read back to back as one token sequence, through their memory maps."""

    def __init__(self, shards: list[TokenShard]):
        self.shards = shards
        self.starts = np.cumsum([0] + [len(shard.tokens) for shard in shards], dtype=np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def read(self, start: int, out: np.ndarray) -> None:
        """Copy tokens [start, start + len(out)) into `out`."""
        index = int(np.searchsorted(self.starts, start, side="right")) - 1
        filled = 0
        while filled < len(out):
            offset = start + filled - int(self.starts[index])
            piece = self.shards[index].tokens[offset : offset + len(out) - filled]
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
            index += 1


def split_streams(manifest_path: str | Path, manifest: dict, split: str) -> dict[str, TokenStream]:
    """One stream per source that has shards in `split`."""
    folder = Path(manifest_path).parent
    shards: dict[str, list[TokenShard]] = {}
    for record in sorted(manifest["shards"], key=lambda record: record["path"]):
        if record["split"] == split:
            shards.setdefault(record["source"], []).append(TokenShard(folder / record["path"]))
    return {name: TokenStream(shards[name]) for name in sorted(shards)}


# ---- training order ------------------------------------------------------------------------------------------


class MixtureOrder:
    """Which (source, window) each global sample reads; see the module docstring."""

    def __init__(self, names: list[str], windows: list[int], probabilities: list[float], seed: int):
        self.names, self.windows, self.seed = names, windows, seed
        self.probabilities = np.asarray(probabilities, dtype=np.float64) / sum(probabilities)
        self.next_sample = 0
        self.drawn = [0] * len(names)
        self._block: tuple[int, np.ndarray] | None = None
        self._permutations: list[tuple[int, np.ndarray] | None] = [None] * len(names)

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(source index, window index) of the next `count` samples; advances the cursor."""
        sources = self._sources(self.next_sample, count)
        windows = np.empty(count, dtype=np.int64)
        for source in np.unique(sources):
            where = np.flatnonzero(sources == source)
            draws = self.drawn[source] + np.arange(len(where), dtype=np.int64)
            windows[where] = self._windows_of(int(source), draws)
            self.drawn[source] += len(where)
        self.next_sample += count
        return sources, windows

    def _sources(self, start: int, count: int) -> np.ndarray:
        parts = []
        while count > 0:
            block, offset = divmod(start, ORDER_BLOCK)
            if self._block is None or self._block[0] != block:
                rng = np.random.default_rng([self.seed, 0, block])
                self._block = block, rng.choice(len(self.names), size=ORDER_BLOCK, p=self.probabilities)
            piece = self._block[1][offset : offset + count]
            parts.append(piece)
            start, count = start + len(piece), count - len(piece)
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def _windows_of(self, source: int, draws: np.ndarray) -> np.ndarray:
        """The windows of the given draw numbers of one source: draw k is position k % W of epoch k // W."""
        size = self.windows[source]
        out = np.empty(len(draws), dtype=np.int64)
        epochs = draws // size
        for epoch in np.unique(epochs):
            where = epochs == epoch
            out[where] = self._permutation(source, int(epoch))[draws[where] % size]
        return out

    def _permutation(self, source: int, epoch: int) -> np.ndarray:
        cached = self._permutations[source]
        if cached is None or cached[0] != epoch:
            if epoch > 0:
                logger.info("source %s: epoch %d begins (its windows in a new order)", self.names[source], epoch)
            permutation = np.arange(self.windows[source], dtype=np.int32 if self.windows[source] < 2**31 else np.int64)
            np.random.default_rng([self.seed, 1, source, epoch]).shuffle(permutation)
            cached = self._permutations[source] = (epoch, permutation)  # only the current epoch is kept
        return cached[1]

    def fingerprint(self) -> dict[str, Any]:
        return {"seed": self.seed, "sources": self.names, "windows": self.windows,
                "probabilities": [round(float(p), 12) for p in self.probabilities]}

    def state_dict(self) -> dict[str, Any]:
        return {"next_sample": self.next_sample, "drawn": dict(zip(self.names, self.drawn, strict=True)),
                "fingerprint": self.fingerprint()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["fingerprint"] != self.fingerprint():
            raise UsageError("the checkpoint was trained on other data (sources, windows, mixing weights, seq_len or "
                             f"data.seed differ): checkpoint {state['fingerprint']}, now {self.fingerprint()}; "
                             "resume with the same manifest and data settings or start a new run")
        self.next_sample = state["next_sample"]
        self.drawn = [state["drawn"][name] for name in self.names]


class TrainData:
    """The training split: packed windows drawn in the mixture order."""

    def __init__(self, manifest_path: str | Path, manifest: dict, seq_len: int, seed: int, vocab_size: int):
        self.seq_len, self.vocab_size, self.eod_id = seq_len, vocab_size, manifest["eod_id"]
        self.streams = split_streams(manifest_path, manifest, "train")
        names = sorted(manifest["sources"])
        problems = [f"source {name} has {len(self.streams[name]) if name in self.streams else 0} training tokens"
                    for name in names if name not in self.streams or len(self.streams[name]) <= seq_len]
        if problems:
            raise UsageError(f"{'; '.join(problems)}, fewer than one window of data.seq_len + 1 = {seq_len + 1}; "
                             "lower data.seq_len or tokenize more text")
        self.order = MixtureOrder(names, [(len(self.streams[name]) - 1) // seq_len for name in names],
                                  [manifest["sources"][name]["probability"] for name in names], seed)

    def windows(self, sources: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """(n, seq_len + 1) int64 tokens of the given windows, checked against the vocabulary."""
        out = np.empty((len(sources), self.seq_len + 1), dtype=np.int64)
        for row, (source, window) in enumerate(zip(sources, windows, strict=True)):
            self.streams[self.order.names[source]].read(int(window) * self.seq_len, out[row])
        if out.size and out.max() >= self.vocab_size:
            bad_row = int(out.max(axis=1).argmax())
            raise UsageError(f"token id {out.max()} in source {self.order.names[sources[bad_row]]} is outside the "
                             f"vocabulary ({self.vocab_size}): the shards are corrupt or were made with another "
                             "tokenizer; check them with data.verify: full")
        return out


class TrainBatches:
    """One data-parallel rank's micro-batches, `accumulation` of them per optimizer step."""

    def __init__(self, data: TrainData, micro_batch_size: int, accumulation: int, rank: int, world: int):
        self.data, self.micro, self.accumulation, self.rank, self.world = (data, micro_batch_size, accumulation,
                                                                           rank, world)

    @property
    def global_batch(self) -> int:
        return self.micro * self.accumulation * self.world

    def next_step(self) -> list[Batch]:
        sources, windows = self.data.order.take(self.global_batch)
        per_rank = self.micro * self.accumulation
        mine = slice(self.rank * per_rank, (self.rank + 1) * per_rank)
        tokens = self.data.windows(sources[mine], windows[mine])
        return [make_batch(tokens[i : i + self.micro], self.data.eod_id) for i in range(0, per_rank, self.micro)]

    def state_dict(self) -> dict[str, Any]:
        return {**self.data.order.state_dict(), "seq_len": self.data.seq_len}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["seq_len"] != self.data.seq_len:
            raise UsageError(f"the checkpoint was trained with data.seq_len {state['seq_len']}, the config says "
                             f"{self.data.seq_len}; resume with the same seq_len or start a new run")
        self.data.order.load_state_dict(state)


class ValidationData:
    """The held-out split of every source, back to back, in non-overlapping windows of seq_len + 1, in order."""

    def __init__(self, manifest_path: str | Path, manifest: dict, seq_len: int):
        self.seq_len, self.eod_id = seq_len, manifest["eod_id"]
        self.streams = list(split_streams(manifest_path, manifest, "val").values())
        self.windows = [len(stream) // (seq_len + 1) for stream in self.streams]

    def __len__(self) -> int:
        return sum(self.windows)

    def batches(self, micro_batch_size: int, max_batches: int, rank: int, world: int) -> list[Batch]:
        """This rank's share: every rank gets the same number of batches (ZeRO-3 gathers parameters in
        lockstep); the windows beyond a multiple of the rank count are left out."""
        per_rank = min(len(self) // world, micro_batch_size * max_batches)
        index = [(s, w) for s, count in enumerate(self.windows) for w in range(count)][rank * per_rank:][:per_rank]
        out = np.empty((per_rank, self.seq_len + 1), dtype=np.int64)
        for row, (stream, window) in enumerate(index):
            self.streams[stream].read(window * (self.seq_len + 1), out[row])
        return [make_batch(out[i : i + micro_batch_size], self.eod_id) for i in range(0, per_rank, micro_batch_size)]
