"""Log-probabilities of token pieces under a Decoder, in padded batches.

A piece is one forward pass: `tokens[:-1]` go in, `tokens[1:]` are the targets, and the targets from position
`first_target` on are scored (earlier ones are context). Perplexity windows and lm-eval requests both become
pieces, so both are scored by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from ccrefine.model import Decoder


class Piece(NamedTuple):
    tokens: Sequence[int]  # inputs and targets: at least two tokens, at most the model's context + 1
    first_target: int  # index into tokens[1:] of the first scored target


class PieceScore(NamedTuple):
    logprob: float  # natural-log probability of the scored targets
    targets: int  # how many targets were scored
    greedy: bool  # every scored target was the model's argmax


@torch.no_grad()
def score_pieces(model: Decoder, pieces: Sequence[Piece], batch_size: int) -> list[PieceScore]:
    """Score every piece; the order of the result is the order of `pieces`.

    Pieces are sorted by length so each batch pads little. Padding goes on the right, where a causal model
    cannot see it, so no attention mask is needed and positions stay those of an unpadded sequence.
    """
    device = next(model.parameters()).device
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].tokens), reverse=True)
    scores: list[PieceScore | None] = [None] * len(pieces)
    for begin in range(0, len(order), batch_size):
        batch = [pieces[i] for i in order[begin : begin + batch_size]]
        width = max(len(piece.tokens) for piece in batch) - 1
        inputs = torch.zeros(len(batch), width, dtype=torch.long)
        targets = torch.zeros(len(batch), width, dtype=torch.long)
        scored = torch.zeros(len(batch), width, dtype=torch.bool)
        for row, piece in enumerate(batch):
            tokens = torch.as_tensor(piece.tokens, dtype=torch.long)
            count = len(tokens) - 1
            inputs[row, :count], targets[row, :count] = tokens[:-1], tokens[1:]
            scored[row, piece.first_target : count] = True
        inputs, targets, scored = inputs.to(device), targets.to(device), scored.to(device)
        logits = model(inputs)
        # cross_entropy per position gives the targets' log-probabilities without a (batch, seq, vocab) copy.
        logprobs = -F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")
        hits = (logits.argmax(-1) == targets) | ~scored
        sums = (logprobs * scored).sum(1).tolist()
        counts = scored.sum(1).tolist()
        greedy = hits.all(1).tolist()
        for row, index in enumerate(order[begin : begin + batch_size]):
            scores[index] = PieceScore(sums[row], counts[row], greedy[row])
    return scores
