"""One transformer layer: attention and FFN with pre-, post- or parallel norm placement."""

from __future__ import annotations

import torch
from ccrefine.model.attention import Attention
from ccrefine.model.config import ModelConfig
from ccrefine.model.kv_cache import KVCache
from ccrefine.model.layers import FeedForward, make_norm
from ccrefine.model.masks import AttentionMask
from torch import nn


class Block(nn.Module):
    """pre:      x + attn(norm(x)), then + ffn(norm(.))           (GPT-2, LLaMA, BLOOM)
    post:     norm(a*x + attn(x)), then norm(a*. + ffn(.))      (Transformer; a > 1 is DeepNorm, GLM-130B)
    parallel: x + attn(norm(x)) + ffn(norm(x)), one shared norm (GPT-J, PaLM, Falcon-7B)
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.placement = config.norm_placement
        self.residual_scale = config.residual_scale
        self.attn_norm = make_norm(config)
        self.attn = Attention(config)
        self.ffn_norm = None if config.norm_placement == "parallel" else make_norm(config)
        self.ffn = FeedForward(config)

    def forward(
        self,
        x: torch.Tensor,
        mask: AttentionMask,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        kv_cache: KVCache | None,
        layer: int,
    ) -> torch.Tensor:
        if self.placement == "parallel":
            h = self.attn_norm(x)
            return x + self.attn(h, mask, rope, kv_cache, layer) + self.ffn(h)
        if self.placement == "pre":
            x = x + self.attn(self.attn_norm(x), mask, rope, kv_cache, layer)
            return x + self.ffn(self.ffn_norm(x))
        x = self.attn_norm(self.residual_scale * x + self.attn(x, mask, rope, kv_cache, layer))
        return self.ffn_norm(self.residual_scale * x + self.ffn(x))
