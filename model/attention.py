"""Causal self-attention: multi-head, grouped-query or multi-query, through SDPA or FlexAttention."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from ccrefine.model.config import ModelConfig
from ccrefine.model.kv_cache import KVCache
from ccrefine.model.masks import AttentionMask
from ccrefine.model.positions import apply_rope
from torch import nn
from torch.nn.attention.flex_attention import flex_attention


@functools.cache
def _compiled_flex_attention():
    return torch.compile(flex_attention, dynamic=False)


def _flex_attention_for(query: torch.Tensor):
    # Eager FlexAttention materialises the full score matrix; compiled, it is a fused kernel. Inside an
    # outer torch.compile the plain function is traced into that graph instead.
    if query.is_cuda and not torch.compiler.is_compiling():
        return _compiled_flex_attention()
    return flex_attention


class Attention(nn.Module):
    """Self-attention with one fused projection laid out as [queries; keys; values].

    Keys and values have ``n_kv_heads`` heads; SDPA's ``enable_gqa`` lets every group of
    ``n_heads / n_kv_heads`` query heads share one without materialising repeated K/V.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.n_kv_heads = config.n_kv_heads
        self.head_dim = config.head_dim
        qkv_dim = (config.n_heads + 2 * config.n_kv_heads) * config.head_dim
        self.qkv = nn.Linear(config.d_model, qkv_dim, bias=config.bias)
        self.out = nn.Linear(config.d_model, config.d_model, bias=config.bias)

    def forward(
        self,
        x: torch.Tensor,
        mask: AttentionMask,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        kv_cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        batch, seq_len, _ = x.shape
        q_dim = self.n_heads * self.head_dim
        kv_dim = self.n_kv_heads * self.head_dim
        q, k, v = self.qkv(x).split([q_dim, kv_dim, kv_dim], dim=-1)
        q = q.view(batch, seq_len, self.n_heads, self.head_dim).transpose(1, 2)
        k = k.view(batch, seq_len, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(batch, seq_len, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if kv_cache is not None:
            k, v = kv_cache.write(layer, k, v)
        grouped = self.n_kv_heads != self.n_heads
        if mask.block_mask is not None:
            flex = _flex_attention_for(q)
            # Compiled FlexAttention can silently miscompute strided inputs (seen with fused RoPE outputs on
            # CPU; pytorch/pytorch#146377 on CUDA), so it gets contiguous (batch, heads, seq, dim) tensors.
            q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
            y = flex(q, k, v, score_mod=mask.score_mod, block_mask=mask.block_mask, enable_gqa=grouped)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask.dense, is_causal=mask.is_causal, enable_gqa=grouped
            )
        return self.out(y.transpose(1, 2).reshape(batch, seq_len, q_dim))
