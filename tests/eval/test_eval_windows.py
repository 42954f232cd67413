"""Sliding windows and batched scoring: every token scored once with the promised context, and the batched,
windowed scores equal plain one-sequence forward passes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ccrefine.eval.perplexity import bits_per_byte, document_pieces
from ccrefine.eval.scoring import Piece, score_pieces
from ccrefine.eval.windows import sliding_windows
from ccrefine.model import Decoder, get_preset
from hypothesis import given, settings
from hypothesis import strategies as st

VOCAB = 50


@given(length=st.integers(0, 300), max_len=st.integers(1, 64), data=st.data())
@settings(max_examples=300, deadline=None)
def test_every_target_is_scored_once_with_the_promised_context(length, max_len, data):
    stride = data.draw(st.integers(1, max_len))
    windows = sliding_windows(length, max_len, stride)
    scored = [j for w in windows for j in range(w.scored_from, w.end + 1)]
    assert scored == list(range(1, length))
    for number, window in enumerate(windows):
        assert 0 <= window.start < window.end <= length - 1 and window.end - window.start <= max_len
        assert window.start < window.scored_from <= window.end
        if number:  # outside the first window every scored target sees max_len - stride tokens or more
            assert window.scored_from - window.start >= max_len - stride


def test_disjoint_and_overlapping_windows():
    assert sliding_windows(10, 4, 4) == [(0, 4, 1), (4, 8, 5), (8, 9, 9)]
    assert sliding_windows(10, 4, 2) == [(0, 4, 1), (2, 6, 5), (4, 8, 7), (6, 9, 9)]
    assert sliding_windows(1, 4, 2) == []
    with pytest.raises(ValueError, match="stride"):
        sliding_windows(10, 4, 5)


def test_bits_per_byte_divides_nats_by_ln2_and_bytes():
    assert bits_per_byte(math.log(2) * 12, 12) == pytest.approx(1.0)
    assert bits_per_byte(math.log(256), 1) == pytest.approx(8.0)  # a uniform guess over byte values
    assert math.isnan(bits_per_byte(1.0, 0))


@pytest.fixture(scope="module")
def model() -> Decoder:
    torch.manual_seed(0)
    return Decoder(get_preset("llama", "tiny", vocab_size=VOCAB)).eval()


def plain_logprobs(model: Decoder, tokens: list[int]) -> torch.Tensor:
    """log p(t_j | t_0 .. t_{j-1}) for j >= 1, one unpadded forward pass."""
    with torch.no_grad():
        logits = model(torch.tensor([tokens[:-1]]))[0].float()
    return logits.log_softmax(-1).gather(1, torch.tensor(tokens[1:])[:, None])[:, 0]


def test_batched_padded_scores_equal_one_sequence_at_a_time(model):
    rng = np.random.default_rng(0)
    pieces = [Piece(rng.integers(4, VOCAB, int(rng.integers(2, 40))).tolist(), int(rng.integers(0, 2)))
              for _ in range(13)]
    batched = score_pieces(model, pieces, batch_size=5)
    for piece, score in zip(pieces, batched, strict=True):
        expected = plain_logprobs(model, list(piece.tokens))[piece.first_target :]
        assert score.logprob == pytest.approx(expected.sum().item(), abs=1e-4)
        assert score.targets == len(expected)
    one_by_one = score_pieces(model, pieces, batch_size=1)
    assert [s.logprob for s in one_by_one] == pytest.approx([s.logprob for s in batched], abs=1e-4)
    assert [s.greedy for s in one_by_one] == [s.greedy for s in batched]


def test_windows_equal_full_context_when_the_document_fits_and_fixed_context_otherwise(model):
    tokens = np.random.default_rng(1).integers(4, VOCAB, 90)
    sequence = [2, *tokens.tolist()]  # the document after its end-of-document prefix
    full = plain_logprobs(model, sequence).sum().item()
    for stride in (1, 7, 128):
        pieces = document_pieces(tokens, 2, 128, stride)
        assert sum(score.logprob for score in score_pieces(model, pieces, 4)) == pytest.approx(full, abs=1e-3)
    # stride 1: every target is predicted from exactly the max_len tokens before it (fewer at the start)
    max_len = 16
    expected = sum(plain_logprobs(model, sequence[max(0, j - max_len) : j + 1])[-1].item()
                   for j in range(1, len(sequence)))
    pieces = document_pieces(tokens, 2, max_len, 1)
    assert sum(score.logprob for score in score_pieces(model, pieces, 8)) == pytest.approx(expected, abs=1e-3)
