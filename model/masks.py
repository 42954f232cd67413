"""Attention masks, built once per forward pass and shared by every layer.

Three representations, cheapest first:
- the SDPA causal fast path (``is_causal=True``, no tensor at all) for plain causal training batches;
- a FlexAttention ``BlockMask`` for document-causal masks of packed sequences on GPU, which skips
  whole blocks that cross documents instead of materialising a (seq x seq) mask;
- a dense mask: boolean, or float when ALiBi biases have to be added. It is the reference path and the
  one used on CPU, with padding and with a KV cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from ccrefine.model.positions import alibi_slope, alibi_slopes
from torch.nn.attention.flex_attention import BlockMask, create_block_mask


@dataclass(frozen=True)
class AttentionMask:
    """How a forward pass masks attention. At most one of ``dense`` and ``block_mask`` is set."""

    is_causal: bool = False
    dense: torch.Tensor | None = None  # (batch, 1 or heads, q_len, k_len); bool = allowed, float = bias
    block_mask: BlockMask | None = None
    score_mod: Callable | None = None  # FlexAttention score modifier (ALiBi)


def build_attention_mask(
    q_len: int,
    past_len: int,
    *,
    key_mask: torch.Tensor | None,
    doc_ids: torch.Tensor | None,
    alibi_heads: int | None,
    use_flex: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> AttentionMask:
    """Mask for ``q_len`` new queries attending to ``past_len + q_len`` keys.

    ``key_mask`` (batch, k_len) is True for real keys (None: no padding). ``doc_ids`` (batch, q_len), only
    without a cache, restricts attention to the same document. ``alibi_heads`` (the head count, None
    without ALiBi) adds ``-slope * (i - j)`` for query i and key j, as in the paper. Padding never sits
    between real tokens (it is left padding, or trailing) and documents are contiguous, so index
    distances between tokens that may attend to each other equal their position distances.
    """
    if key_mask is None and doc_ids is None and alibi_heads is None:
        if past_len == 0:
            return AttentionMask(is_causal=True)
        if q_len == 1:
            return AttentionMask()  # one new token sees every cached key
    if use_flex and doc_ids is not None:
        return _flex_document_mask(doc_ids, key_mask, alibi_heads)

    k_len = past_len + q_len
    q_index = torch.arange(past_len, k_len, device=device)
    k_index = torch.arange(k_len, device=device)
    allowed = (k_index[None, :] <= q_index[:, None])[None]  # (1, q, k)
    if key_mask is not None:
        # Padding queries keep their own key so no row is fully masked (SDPA would return NaN there).
        allowed = allowed & (key_mask[:, None, :] | (k_index[None, :] == q_index[:, None])[None])
    if doc_ids is not None:
        allowed = allowed & (doc_ids[:, :, None] == doc_ids[:, None, :])
    allowed = allowed[:, None]  # (batch, 1, q, k)
    if alibi_heads is None:
        return AttentionMask(dense=allowed)
    distance = (q_index[:, None] - k_index[None, :]).float()  # (q, k)
    bias = -alibi_slopes(alibi_heads, device)[:, None, None] * distance  # (heads, q, k)
    bias = bias[None].masked_fill(~allowed, float("-inf"))
    return AttentionMask(dense=bias.to(dtype))


def _flex_document_mask(
    doc_ids: torch.Tensor, key_mask: torch.Tensor | None, alibi_heads: int | None
) -> AttentionMask:
    batch, seq_len = doc_ids.shape

    def document_causal(b, h, q, k):
        allowed = (k <= q) & (doc_ids[b, q] == doc_ids[b, k])
        if key_mask is not None:
            allowed = allowed & (key_mask[b, k] | (k == q))
        return allowed

    block_mask = create_block_mask(document_causal, batch, None, seq_len, seq_len, device=doc_ids.device)
    score_mod = None
    if alibi_heads is not None:

        def alibi(score, b, h, q, k):
            return score - alibi_slope(h, alibi_heads) * (q - k)

        score_mod = alibi
    return AttentionMask(block_mask=block_mask, score_mod=score_mod)
