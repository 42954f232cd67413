"""Presets: the architecture choices of published model families at a ladder of sizes.

Size names are nominal total parameter counts at a 32k vocabulary (the vocabulary is the caller's:
it comes from the tokenizer). Published vocabularies, for reference: LLaMA 32000, GPT-3 50257,
Falcon 65024, BLOOM 250880, PaLM 256000, GLM-130B 150528.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ccrefine.model.config import ModelConfig


class Shape(NamedTuple):
    d_model: int
    n_layers: int
    n_heads: int


# Architecture choices per family, from each family's paper / released config.
FAMILIES: dict[str, dict[str, Any]] = {
    # LLaMA (Touvron et al. 2023): RoPE, pre-RMSNorm, SwiGLU, no biases, untied output head.
    "llama": dict(
        position="rope",
        norm="rmsnorm",
        norm_placement="pre",
        norm_eps=1e-6,
        ffn="swiglu",
        bias=False,
        tie_embeddings=False,
        init="normal",
    ),
    # GPT-3 (Brown et al. 2020), i.e. GPT-2's layer: learned positions, pre-LayerNorm, tanh-GELU MLP,
    # biases, tied embeddings. GPT-3's alternating locally banded sparse layers are not modelled.
    "gpt3": dict(
        position="learned",
        norm="layernorm",
        norm_placement="pre",
        ffn="gelu",
        gelu_approximate="tanh",
        bias=True,
        tie_embeddings=True,
        init="normal",
    ),
    # Falcon-7B: RoPE, parallel attention + MLP under one LayerNorm, multi-query, GELU MLP,
    # no linear biases (LayerNorm keeps its bias), tied embeddings.
    "falcon": dict(
        position="rope",
        norm="layernorm",
        norm_placement="parallel",
        n_kv_heads=1,
        ffn="gelu",
        bias=False,
        tie_embeddings=True,
        init="normal",
    ),
    # BLOOM (BigScience 2022): ALiBi, pre-LayerNorm plus a LayerNorm after the embedding,
    # tanh-GELU MLP, biases, tied embeddings.
    "bloom": dict(
        position="alibi",
        norm="layernorm",
        norm_placement="pre",
        embedding_norm=True,
        ffn="gelu",
        gelu_approximate="tanh",
        bias=True,
        tie_embeddings=True,
        init="normal",
    ),
    # PaLM (Chowdhery et al. 2022): RoPE, parallel block, multi-query, SwiGLU with d_ff = 4 d,
    # no biases anywhere (LayerNorm included), shared input/output embeddings, fan-in init.
    "palm": dict(
        position="rope",
        norm="layernorm",
        norm_bias=False,
        norm_placement="parallel",
        n_kv_heads=1,
        ffn="swiglu",
        bias=False,
        tie_embeddings=True,
        init="fan_in",
    ),
    # GLM-130B (Zeng et al. 2022): RoPE, post-LayerNorm with DeepNorm (alpha = sqrt(2N)), GeGLU,
    # biases. The paper does not say whether the output head is tied; it is untied here. GLM's
    # bidirectional prefix attention is not modelled: this is a causal decoder.
    "glm": dict(
        position="rope",
        norm="layernorm",
        norm_placement="post",
        ffn="geglu",
        bias=True,
        tie_embeddings=False,
        init="deepnorm",
    ),
}

SIZES: dict[str, Shape] = {
    "tiny": Shape(64, 2, 4),  # for tests
    "125m": Shape(768, 12, 12),  # GPT-3 Small
    "350m": Shape(1024, 24, 16),  # GPT-3 Medium
    "1b": Shape(2048, 18, 16),
    "7b": Shape(4096, 32, 32),  # LLaMA-7B, GPT-3 6.7B
}

# Where a family's layer is smaller (multi-query) or larger (PaLM's 4d SwiGLU) than LLaMA's, its
# ladder is deepened or shortened to stay near the nominal size.
FAMILY_SIZES: dict[str, dict[str, Shape]] = {
    "falcon": {
        "125m": Shape(768, 16, 12),
        "350m": Shape(1024, 30, 16),
        "1b": Shape(2048, 24, 32),
        "7b": Shape(4544, 32, 71),  # Falcon-7B as published
    },
    "palm": {
        "350m": Shape(1024, 22, 16),
        "1b": Shape(2048, 16, 16),
        "7b": Shape(4096, 28, 16),  # PaLM-8B's width and heads (head_dim 256), 28 of its 32 layers
    },
}

MAX_SEQ_LEN = {"tiny": 256}  # every published family trained at 2048 (the default)


def _derived(family: str, values: dict[str, Any]) -> dict[str, Any]:
    """Settings that follow from the shape."""
    if family == "palm":
        return {"ffn_hidden": 4 * values["d_model"]}
    if family == "glm":
        return {"residual_scale": math.sqrt(2 * values["n_layers"])}
    return {}


def get_preset(family: str, size: str, *, vocab_size: int, **overrides: Any) -> ModelConfig:
    """ModelConfig of ``family`` at ``size``, e.g. ``get_preset("llama", "125m", vocab_size=32000)``.

    ``overrides`` replace any ModelConfig field (e.g. ``max_seq_len=4096``).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown preset family {family!r}; choose one of {', '.join(FAMILIES)}")
    if size not in SIZES:
        raise ValueError(f"unknown preset size {size!r}; choose one of {', '.join(SIZES)}")
    shape = FAMILY_SIZES.get(family, {}).get(size, SIZES[size])
    values: dict[str, Any] = {
        **FAMILIES[family],
        **shape._asdict(),
        "vocab_size": vocab_size,
        "max_seq_len": MAX_SEQ_LEN.get(size, 2048),
    }
    values.update(overrides)
    values.update({k: v for k, v in _derived(family, values).items() if k not in overrides})
    return ModelConfig(**values)


def preset_names() -> list[tuple[str, str]]:
    return [(family, size) for family in FAMILIES for size in SIZES]
