"""Weight initialisation per model family (see ``ModelConfig.init``)."""

from __future__ import annotations

import math

import torch
from ccrefine.model.block import Block
from ccrefine.model.config import ModelConfig
from torch import nn


@torch.no_grad()
def initialize_weights(model: nn.Module, config: ModelConfig) -> None:
    """Initialise every weight of a ``Decoder`` in place; biases start at 0, norm gains at 1.

    Embeddings are N(0, init_std) in every scheme. The tied output head is the token embedding and
    is not initialised a second time.
    """
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=config.init_std)
        elif isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    if not config.tie_embeddings:
        _init_linear(model.lm_head.weight, config, residual_output=False)
    for block in model.blocks:
        _init_block(block, config)


def _init_block(block: Block, config: ModelConfig) -> None:
    ffn = block.ffn
    if config.init == "deepnorm":
        # GLM-130B: Xavier normal, value / output / FFN weights scaled by beta = (2N)^-1/2.
        beta = (2 * config.n_layers) ** -0.5
        q_dim = config.n_heads * config.head_dim
        kv_dim = config.n_kv_heads * config.head_dim
        q, k, v = block.attn.qkv.weight.split([q_dim, kv_dim, kv_dim], dim=0)
        for weight, gain in ((q, 1.0), (k, 1.0), (v, beta), (block.attn.out.weight, beta)):
            nn.init.xavier_normal_(weight, gain=gain)
        for linear in (ffn.gate, ffn.up, ffn.down):
            if linear is not None:
                nn.init.xavier_normal_(linear.weight, gain=beta)
        return
    _init_linear(block.attn.qkv.weight, config, residual_output=False)
    _init_linear(block.attn.out.weight, config, residual_output=True)
    for linear in (ffn.gate, ffn.up):
        if linear is not None:
            _init_linear(linear.weight, config, residual_output=False)
    _init_linear(ffn.down.weight, config, residual_output=True)


def _init_linear(weight: torch.Tensor, config: ModelConfig, residual_output: bool) -> None:
    if config.init == "fan_in":
        # PaLM: kernels ~ N(0, 1/fan_in), no extra scaling of residual outputs.
        nn.init.normal_(weight, std=weight.shape[1] ** -0.5)
    elif residual_output:
        # GPT-2 / Megatron: each layer adds two residual branches; keep their sum's variance fixed.
        nn.init.normal_(weight, std=config.init_std / math.sqrt(2 * config.n_layers))
    else:
        nn.init.normal_(weight, std=config.init_std)
