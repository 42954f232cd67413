"""Training data: packed windows across document and shard boundaries, a deterministic mixture order split across
ranks, an exact resume cursor, memory that does not grow with steps, and clear errors for damaged shards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ccrefine.model import doc_ids_from_eos
from ccrefine.trainer.data import TrainBatches, TrainData, ValidationData, load_manifest
from ccrefine.transforms.tokens.shards import TokenShard

from ccrefine.errors import UsageError

SEQ = 32
VOCAB = 64


def train_data(manifest_path: Path, seed: int = 0, seq_len: int = SEQ) -> TrainData:
    return TrainData(manifest_path, load_manifest(manifest_path), seq_len, seed, VOCAB)


def loader(manifest_path: Path, rank: int = 0, world: int = 1, micro: int = 2, accumulation: int = 2,
           seed: int = 0) -> TrainBatches:
    return TrainBatches(train_data(manifest_path, seed), micro, accumulation, rank, world)


def step_tokens(batches) -> torch.Tensor:
    """All windows of one step, inputs plus the last target, in micro-batch order."""
    return torch.cat([torch.cat([b.input_ids, b.targets[:, -1:]], dim=1) for b in batches])


def stream_tokens(manifest_path: Path, source: str) -> np.ndarray:
    manifest = json.loads(manifest_path.read_text())
    paths = sorted(r["path"] for r in manifest["shards"] if r["split"] == "train" and r["source"] == source)
    return np.concatenate([np.asarray(TokenShard(manifest_path.parent / p).tokens) for p in paths])


def test_windows_pack_documents_and_cross_shard_boundaries(synthetic_manifest):
    data = train_data(synthetic_manifest)
    web = data.order.names.index("web")
    assert len(data.streams["web"].shards) > 1  # the fixture spreads web over several shards
    expected = stream_tokens(synthetic_manifest, "web")
    boundary = int(data.streams["web"].starts[1])
    crossing = boundary // SEQ  # the window that holds the first shard's last token and the second's first
    windows = [0, crossing, data.order.windows[web] - 1]
    got = data.windows(np.full(3, web), np.array(windows))
    for row, window in zip(got, windows, strict=True):
        assert row.tolist() == expected[window * SEQ : window * SEQ + SEQ + 1].tolist()
    assert data.order.windows[web] == (len(expected) - 1) // SEQ


def test_document_ids_restart_after_every_end_of_document(synthetic_manifest):
    batch = loader(synthetic_manifest).next_step()[0]
    assert (batch.input_ids == 2).any()  # several documents per row
    assert torch.equal(batch.doc_ids, doc_ids_from_eos(batch.input_ids, 2))
    assert torch.equal(batch.targets[:, :-1], batch.input_ids[:, 1:])


def test_order_is_deterministic_and_depends_on_the_seed(synthetic_manifest):
    first = step_tokens(loader(synthetic_manifest).next_step())
    assert torch.equal(step_tokens(loader(synthetic_manifest).next_step()), first)
    assert not torch.equal(step_tokens(loader(synthetic_manifest, seed=1).next_step()), first)


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_split_each_global_batch_without_overlap(synthetic_manifest, world):
    """Rank slices, concatenated in rank order, are the one-rank global batch: the order does not depend on the
    number of ranks."""
    single = loader(synthetic_manifest, micro=1, accumulation=8)
    ranks = [loader(synthetic_manifest, rank=r, world=world, micro=2, accumulation=4 // world) for r in range(world)]
    for _ in range(5):
        expected = step_tokens(single.next_step())
        assert torch.equal(torch.cat([step_tokens(r.next_step()) for r in ranks]), expected)


def test_order_does_not_depend_on_the_batch_size(synthetic_manifest):
    small, large = train_data(synthetic_manifest), train_data(synthetic_manifest)
    pairs = [small.order.take(3) for _ in range(8)]
    sources, windows = large.order.take(24)
    assert np.array_equal(np.concatenate([p[0] for p in pairs]), sources)
    assert np.array_equal(np.concatenate([p[1] for p in pairs]), windows)


def test_state_dict_resumes_at_the_exact_next_sample(synthetic_manifest):
    running = loader(synthetic_manifest)
    for _ in range(7):
        running.next_step()
    state = json.loads(json.dumps(running.state_dict()))  # it goes through a checkpoint
    resumed = loader(synthetic_manifest, rank=1, world=2, micro=1, accumulation=2)  # other ranks, same global batch
    resumed.load_state_dict(state)
    partner = loader(synthetic_manifest, rank=0, world=2, micro=1, accumulation=2)
    partner.load_state_dict(state)
    for _ in range(30):  # past the end of an epoch of 'books'
        expected = step_tokens(running.next_step())
        assert torch.equal(torch.cat([step_tokens(partner.next_step()), step_tokens(resumed.next_step())]), expected)


def test_mixture_follows_the_manifest_weights_and_epochs_permute_every_window(synthetic_manifest):
    data = train_data(synthetic_manifest)
    sources, windows = data.order.take(20_000)
    books = data.order.names.index("books")
    assert np.mean(sources == books) == pytest.approx(0.25, abs=0.01)  # weights 3:1
    size = data.order.windows[books]
    first_epoch = windows[sources == books][:size]
    assert sorted(first_epoch.tolist()) == list(range(size))  # each window once per epoch
    second_epoch = windows[sources == books][size : 2 * size]
    assert sorted(second_epoch.tolist()) == list(range(size)) and not np.array_equal(first_epoch, second_epoch)


def test_a_checkpoint_of_other_data_is_refused(synthetic_manifest):
    state = loader(synthetic_manifest).state_dict()
    with pytest.raises(UsageError, match="trained on other data"):
        loader(synthetic_manifest, seed=5).load_state_dict(state)
    with pytest.raises(UsageError, match="seq_len 32"):
        TrainBatches(train_data(synthetic_manifest, seq_len=16), 2, 2, 0, 1).load_state_dict(state)


def anonymous_memory_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    pytest.skip("no /proc/self/status")


def test_memory_does_not_grow_with_steps(synthetic_manifest):
    """Tokens stay in the page cache behind the memory maps; this process's own (anonymous) memory is flat over
    hundreds of epochs of the data."""
    batches = loader(synthetic_manifest, micro=8, accumulation=2)
    for _ in range(200):
        batches.next_step()
    before = anonymous_memory_kib()
    for _ in range(3000):
        batches.next_step()
    assert anonymous_memory_kib() - before < 1024


def test_validation_batches_are_the_same_count_on_every_rank_and_disjoint(synthetic_manifest):
    manifest = load_manifest(synthetic_manifest)
    validation = ValidationData(synthetic_manifest, manifest, SEQ)
    shares = [validation.batches(2, 1000, rank, 3) for rank in range(3)]
    assert len({len(share) for share in shares}) == 1
    rows = [tuple(row.tolist()) for share in shares for batch in share for row in batch.input_ids]
    assert len(rows) == (len(validation) // 3) * 3 and len(set(rows)) == len(rows)
    assert sum(len(b.input_ids) for b in validation.batches(2, 2, 0, 1)) == 4  # eval.batches caps it


@pytest.fixture
def damaged(synthetic_manifest, tmp_path) -> Path:
    """A copy of the synthetic shards to damage."""
    copy = tmp_path / "shards"
    shutil.copytree(synthetic_manifest.parent, copy)
    return copy / "manifest.json"


def test_missing_and_truncated_shards_are_named(damaged):
    folder = damaged.parent
    (folder / "train/web/part-00000-001.bin").unlink()
    truncated = folder / "train/books/part-00000-000.bin"
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(UsageError) as error:
        load_manifest(damaged)
    message = str(error.value)
    assert "train/web/part-00000-001.bin: missing" in message
    assert "part-00000-000.bin" in message and "the index says" in message
    assert "re-run `ccrefine tokenize`" in message


def test_full_verification_finds_a_changed_byte(damaged):
    shard = damaged.parent / "train/web/part-00000-000.bin"
    data = bytearray(shard.read_bytes())
    data[1] ^= 1
    shard.write_bytes(bytes(data))
    load_manifest(damaged)  # sizes still match
    with pytest.raises(UsageError, match="sha256 differs"):
        load_manifest(damaged, verify="full")


def test_a_token_outside_the_vocabulary_is_an_error(damaged):
    data = TrainData(damaged, load_manifest(damaged), SEQ, 0, vocab_size=10)
    with pytest.raises(UsageError, match="outside the vocabulary \\(10\\)"):
        TrainBatches(data, 2, 1, 0, 1).next_step()


def test_a_missing_manifest_names_the_fix(tmp_path):
    with pytest.raises(UsageError, match="ccrefine tokenize"):
        load_manifest(tmp_path / "manifest.json")


def test_an_unfinished_tokenize_output_is_refused(damaged):
    (damaged.parent / "_SUCCESS").unlink()  # what a killed `ccrefine tokenize` leaves: no completion marker
    with pytest.raises(UsageError, match="not a complete ccrefine output"):
        load_manifest(damaged)
