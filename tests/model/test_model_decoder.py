"""Decoder plumbing: loss helper, save/load, initialisation, input errors."""

from __future__ import annotations

import math

import pytest
import torch
from ccrefine.model.config import ModelConfig
from ccrefine.model.decoder import Decoder, lm_loss
from ccrefine.model.kv_cache import KVCache
from ccrefine.model.presets import FAMILIES, get_preset

VOCAB = 97  # the tiny_model fixture's vocabulary


@pytest.mark.parametrize("family", list(FAMILIES))
def test_save_load_round_trip(tiny_model, family, tmp_path):
    model = tiny_model(family)
    model.save(tmp_path / "checkpoint")
    loaded = Decoder.load(tmp_path / "checkpoint")
    assert loaded.config == model.config
    tokens = torch.randint(0, VOCAB, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens), model(tokens))
    if model.config.tie_embeddings:
        assert loaded.lm_head.weight is loaded.tok_embeddings.weight


def test_loss_is_next_token_cross_entropy(tiny_model):
    model = tiny_model("llama")
    tokens = torch.randint(0, VOCAB, (2, 10))
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    targets[0, :3] = -100  # ignored
    with torch.no_grad():
        logits = model(inputs)
        expected = torch.nn.functional.cross_entropy(logits[targets != -100], targets[targets != -100])
        torch.testing.assert_close(model.loss(inputs, targets), expected)
        torch.testing.assert_close(lm_loss(logits, targets), expected)


def test_initial_loss_is_near_uniform():
    """Small initial logits: a fresh model predicts close to uniformly (loss ~ ln vocab)."""
    for family in FAMILIES:
        torch.manual_seed(0)
        model = Decoder(get_preset(family, "tiny", vocab_size=512))
        tokens = torch.randint(0, 512, (4, 32))
        with torch.no_grad():
            loss = model.loss(tokens[:, :-1], tokens[:, 1:]).item()
        assert abs(loss - math.log(512)) < 0.5, family


def test_scaled_residual_init():
    config = ModelConfig(vocab_size=100, d_model=256, n_layers=8, n_heads=4, init_std=0.02)
    torch.manual_seed(0)
    model = Decoder(config)
    block = model.blocks[0]
    assert block.attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert block.attn.out.weight.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.05)
    assert block.ffn.down.weight.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.05)


def test_forward_input_errors(tiny_model):
    gpt = tiny_model("gpt3")
    too_long = gpt.config.max_seq_len + 1
    with pytest.raises(ValueError, match="exceeds max_seq_len"):
        gpt(torch.zeros(1, too_long, dtype=torch.long))
    llama = tiny_model("llama")
    tokens = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="cannot be combined with kv_cache"):
        llama(tokens, doc_ids=torch.zeros_like(tokens), kv_cache=KVCache(llama.config, 1, 8))


@pytest.mark.parametrize("family", ["llama", "bloom"])
def test_bf16_forward_and_backward(tiny_model, family):
    model = tiny_model(family).to(torch.bfloat16)
    tokens = torch.randint(0, VOCAB, (2, 16))
    loss = model.loss(tokens, tokens, doc_ids=torch.tensor([[0] * 8 + [1] * 8] * 2))
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
