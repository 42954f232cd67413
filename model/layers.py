"""Norms and feed-forward networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ccrefine.model.config import ModelConfig
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square norm (Zhang & Sennrich 2019): no mean subtraction, no bias."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Statistics in fp32: bf16 squares lose too much precision for the mean.
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def make_norm(config: ModelConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return RMSNorm(config.d_model, config.norm_eps)
    return nn.LayerNorm(config.d_model, eps=config.norm_eps, bias=config.norm_bias)


class FeedForward(nn.Module):
    """GELU MLP (``down(gelu(up(x)))``) or gated GLU (``down(act(gate(x)) * up(x))``, Shazeer 2020)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        hidden = config.ffn_hidden
        self.kind = config.ffn
        self.gelu_approximate = config.gelu_approximate
        self.gate = nn.Linear(config.d_model, hidden, bias=config.bias) if config.gated_ffn else None
        self.up = nn.Linear(config.d_model, hidden, bias=config.bias)
        self.down = nn.Linear(hidden, config.d_model, bias=config.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "swiglu":
            return self.down(F.silu(self.gate(x)) * self.up(x))
        if self.kind == "geglu":
            return self.down(F.gelu(self.gate(x), approximate=self.gelu_approximate) * self.up(x))
        return self.down(F.gelu(self.up(x), approximate=self.gelu_approximate))
