"""Presets: published shapes, parameter counts, and that every tiny preset learns."""

from __future__ import annotations

import pytest
import torch
from ccrefine.model.decoder import Decoder
from ccrefine.model.flops import count_parameters
from ccrefine.model.presets import FAMILIES, SIZES, get_preset, preset_names

ALL_FAMILIES = list(FAMILIES)
NOMINAL = {"125m": 125e6, "350m": 350e6, "1b": 1e9, "7b": 7e9}


def built_count(config) -> int:
    # The meta device allocates no memory, so even 7B-parameter models build instantly.
    with torch.device("meta"):
        model = Decoder(config)
    return sum(p.numel() for p in model.parameters())  # a tied head is one Parameter, counted once


@pytest.mark.parametrize(("family", "size"), preset_names())
def test_analytic_count_equals_built_model(family, size):
    config = get_preset(family, size, vocab_size=32000)
    assert count_parameters(config) == built_count(config)


@pytest.mark.parametrize("family", ALL_FAMILIES)
@pytest.mark.parametrize("size", list(NOMINAL))
def test_sizes_are_near_their_names(family, size):
    count = count_parameters(get_preset(family, size, vocab_size=32000))
    assert abs(count / NOMINAL[size] - 1) < 0.15, f"{family} {size}: {count / 1e6:.0f}M"


@pytest.mark.parametrize(
    ("family", "size", "overrides", "published"),
    [
        ("llama", "7b", dict(vocab_size=32000), 6_738_415_616),  # LLaMA-7B
        ("falcon", "7b", dict(vocab_size=65024), 6_921_720_704),  # Falcon-7B
        ("gpt3", "125m", dict(vocab_size=50257, max_seq_len=1024), 124_439_808),  # GPT-2 small
        ("bloom", "350m", dict(vocab_size=250880), 559_214_592),  # BLOOM-560m
    ],
)
def test_published_models_have_their_published_counts(family, size, overrides, published):
    assert count_parameters(get_preset(family, size, **overrides)) == published


def test_family_choices():
    llama = get_preset("llama", "7b", vocab_size=32000)
    assert (llama.position, llama.norm, llama.norm_placement, llama.ffn) == (
        "rope",
        "rmsnorm",
        "pre",
        "swiglu",
    )
    assert not llama.bias and not llama.tie_embeddings and llama.ffn_hidden == 11008
    palm = get_preset("palm", "1b", vocab_size=32000)
    assert palm.n_kv_heads == 1 and palm.norm_placement == "parallel" and palm.ffn_hidden == 4 * palm.d_model
    glm = get_preset("glm", "350m", vocab_size=32000)
    assert glm.norm_placement == "post" and glm.residual_scale == pytest.approx((2 * 24) ** 0.5)
    assert get_preset("falcon", "7b", vocab_size=65024).n_heads == 71


def test_overrides_and_errors():
    config = get_preset("glm", "tiny", vocab_size=50, n_layers=8, max_seq_len=64)
    assert config.n_layers == 8 and config.max_seq_len == 64
    assert config.residual_scale == pytest.approx(4.0)  # follows the overridden depth
    with pytest.raises(ValueError, match="unknown preset family 'gpt5'; choose one of llama, gpt3"):
        get_preset("gpt5", "tiny", vocab_size=50)
    with pytest.raises(ValueError, match="unknown preset size '3b'"):
        get_preset("llama", "3b", vocab_size=50)
    assert set(SIZES) == {"tiny", "125m", "350m", "1b", "7b"}


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_tiny_preset_overfits_a_fixed_batch(family):
    torch.manual_seed(0)
    model = Decoder(get_preset(family, "tiny", vocab_size=64))
    tokens = torch.randint(0, 64, (4, 33))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = model.loss(inputs, targets).item()
    for _ in range(60):
        loss = model.loss(inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first, f"{family}: {first:.3f} -> {loss.item():.3f}"
