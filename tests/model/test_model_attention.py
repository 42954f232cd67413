"""Attention semantics: causality, GQA/MQA, RoPE and ALiBi relative positions, document and padding masks."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from ccrefine.model.masks import AttentionMask, build_attention_mask
from ccrefine.model.positions import (
    alibi_slopes,
    apply_rope,
    doc_ids_from_eos,
    positions_within_documents,
    rope_cos_sin,
)
from ccrefine.model.presets import FAMILIES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ALL_FAMILIES = list(FAMILIES)
VOCAB = 97  # the tiny_model fixture's vocabulary

fixture_ok = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Each family plus attention variants its preset does not cover.
VARIANTS = [(family, {}) for family in ALL_FAMILIES] + [
    ("llama", {"n_kv_heads": 2}),
    ("llama", {"n_kv_heads": 1, "position": "none"}),
    ("gpt3", {"n_kv_heads": 2}),
]


@fixture_ok
@given(variant=st.sampled_from(VARIANTS), cut=st.integers(1, 15), seed=st.integers(0, 2**16))
def test_later_tokens_never_change_earlier_logits(tiny_model, variant, cut, seed):
    family, overrides = variant
    model = tiny_model(family, **overrides)
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (2, 16), generator=generator)
    changed = tokens.clone()
    changed[:, cut:] = torch.randint(0, VOCAB, (2, 16 - cut), generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(model(tokens)[:, :cut], model(changed)[:, :cut], atol=1e-5, rtol=1e-5)


def reference_attention(attention, x, cos, sin):
    """Textbook causal attention with K/V heads repeated explicitly for each query group."""
    batch, seq_len, _ = x.shape
    heads, kv_heads, head_dim = attention.n_heads, attention.n_kv_heads, attention.head_dim
    q, k, v = attention.qkv(x).split([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim], dim=-1)
    q = apply_rope(q.view(batch, seq_len, heads, head_dim).transpose(1, 2), cos, sin)
    k = apply_rope(k.view(batch, seq_len, kv_heads, head_dim).transpose(1, 2), cos, sin)
    v = v.view(batch, seq_len, kv_heads, head_dim).transpose(1, 2)
    group = heads // kv_heads
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
    weights = scores.masked_fill(~causal, float("-inf")).softmax(-1)
    y = (weights @ v).transpose(1, 2).reshape(batch, seq_len, heads * head_dim)
    return attention.out(y)


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1], ids=["mha", "gqa", "mqa"])
def test_attention_matches_textbook_formula(tiny_model, n_kv_heads):
    model = tiny_model("llama", n_kv_heads=n_kv_heads)
    attention = model.blocks[0].attn
    x = torch.randn(2, 11, model.config.d_model)
    cos, sin = rope_cos_sin(torch.arange(11)[None], model.config.head_dim, model.config.rope_theta, x.dtype)
    with torch.no_grad():
        ours = attention(x, AttentionMask(is_causal=True), (cos, sin), None, 0)
        torch.testing.assert_close(ours, reference_attention(attention, x, cos, sin), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ["llama", "falcon", "bloom"])
def test_gqa_equals_mha_with_repeated_kv_weights(tiny_model, family):
    """A GQA model computes what an MHA model computes when each K/V head is copied for its group."""
    grouped = tiny_model(family, n_kv_heads=2)
    full = tiny_model(family, n_kv_heads=4)
    config = grouped.config
    state = grouped.state_dict()
    q_dim, kv_dim, head_dim = config.d_model, 2 * config.head_dim, config.head_dim
    for i in range(config.n_layers):
        for kind in ("weight", "bias"):
            key = f"blocks.{i}.attn.qkv.{kind}"
            if key not in state:
                continue
            q, k, v = state[key].split([q_dim, kv_dim, kv_dim])
            expand = lambda t: t.reshape(2, head_dim, *t.shape[1:]).repeat_interleave(2, 0).flatten(0, 1)  # noqa: E731
            state[key] = torch.cat([q, expand(k), expand(v)])
    full.load_state_dict(state)
    tokens = torch.randint(0, VOCAB, (3, 13))
    with torch.no_grad():
        torch.testing.assert_close(grouped(tokens), full(tokens), atol=1e-5, rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(0, 500), n=st.integers(0, 500), shift=st.integers(0, 3000), seed=st.integers(0, 2**16))
def test_rope_scores_depend_only_on_relative_position(m, n, shift, seed):
    generator = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, 1, 1, 1, 32, generator=generator, dtype=torch.float64)

    def score(pos_q, pos_k):
        cos_q, sin_q = rope_cos_sin(torch.tensor([[pos_q]]), 32, 10000.0, torch.float64)
        cos_k, sin_k = rope_cos_sin(torch.tensor([[pos_k]]), 32, 10000.0, torch.float64)
        return (apply_rope(q, cos_q, sin_q) * apply_rope(k, cos_k, sin_k)).sum()

    # Angles are computed in fp32, so large positions carry fp32 rounding.
    torch.testing.assert_close(
        score(m, n), score(m + shift, n + shift), atol=2e-4 * (1 + shift / 100), rtol=1e-4
    )


@fixture_ok
@given(
    variant=st.sampled_from([("llama", {}), ("falcon", {}), ("palm", {}), ("llama", {"position": "none"})]),
    shift=st.integers(1, 200),
)
def test_shifting_all_positions_keeps_rope_logits(tiny_model, variant, shift):
    family, overrides = variant
    model = tiny_model(family, **overrides)
    tokens = torch.randint(0, VOCAB, (2, 12))
    positions = torch.arange(12)[None]
    with torch.no_grad():
        torch.testing.assert_close(
            model(tokens, positions=positions),
            model(tokens, positions=positions + shift),
            atol=2e-4,
            rtol=1e-4,
        )



def cpu_mask(q_len: int, past_len: int, alibi_heads: int | None):
    """The dense (non-flex) mask of a batch without padding or packed documents."""
    return build_attention_mask(q_len, past_len, key_mask=None, doc_ids=None, alibi_heads=alibi_heads, use_flex=False,
                                device=torch.device("cpu"), dtype=torch.float32)

@settings(max_examples=30, deadline=None)
@given(n_heads=st.sampled_from([1, 4, 6, 12]), q_len=st.integers(1, 9), shift=st.integers(1, 300))
def test_shifting_all_positions_keeps_alibi_biases(n_heads, q_len, shift):
    """The same queries and keys, moved ``shift`` places later (behind cached or padded tokens),
    get the same ALiBi biases among themselves."""

    def biases(past_len):
        return cpu_mask(q_len, past_len, alibi_heads=n_heads).dense[..., past_len:]

    torch.testing.assert_close(biases(shift), biases(0), atol=1e-4, rtol=1e-5)


def test_learned_positions_are_absolute(tiny_model):
    model = tiny_model("gpt3")
    tokens = torch.randint(0, VOCAB, (1, 8))
    positions = torch.arange(8)[None]
    with torch.no_grad():
        assert not torch.allclose(model(tokens, positions=positions), model(tokens, positions=positions + 5))


def test_alibi_slopes_follow_the_paper():
    assert alibi_slopes(8).tolist() == [2.0**-i for i in range(1, 9)]
    # Not a power of two: the 4-head slopes, then every other slope of the 8-head sequence.
    assert alibi_slopes(6).tolist() == [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]


def test_alibi_bias_is_minus_slope_times_distance():
    slopes = alibi_slopes(4)
    bias = cpu_mask(5, 0, alibi_heads=4).dense[0]
    assert bias[2, 4, 1].item() == pytest.approx(-3 * slopes[2].item())
    assert bias[0, 1, 3].item() == float("-inf")  # causal
    assert torch.all(bias.diagonal(dim1=-2, dim2=-1) == 0)


def test_plain_causal_batches_take_the_sdpa_fast_path():
    mask = cpu_mask(6, 0, alibi_heads=None)
    assert mask.is_causal and mask.dense is None and mask.block_mask is None


def test_document_helpers():
    eos = 0
    tokens = torch.tensor([[5, 6, 0, 7, 0, 8, 9, 9]])
    doc_ids = doc_ids_from_eos(tokens, eos)
    assert doc_ids.tolist() == [[0, 0, 0, 1, 1, 2, 2, 2]]
    assert positions_within_documents(doc_ids).tolist() == [[0, 1, 2, 0, 1, 0, 1, 2]]


@fixture_ok
@given(
    family=st.sampled_from(ALL_FAMILIES),
    lengths=st.lists(st.integers(1, 8), min_size=2, max_size=4),
    target=st.integers(0, 3),
)
def test_document_mask_blocks_cross_document_attention(tiny_model, family, lengths, target):
    """Changing one document never changes another's logits, and each document's logits are those
    of the document run alone (positions restart at its first token)."""
    model = tiny_model(family)
    target %= len(lengths)
    doc_ids = torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])[None]
    tokens = torch.randint(0, VOCAB, doc_ids.shape)
    changed = tokens.clone()
    in_target = doc_ids == target
    changed[in_target] = (tokens[in_target] + 1) % VOCAB
    with torch.no_grad():
        logits = model(tokens, doc_ids=doc_ids)
        logits_changed = model(changed, doc_ids=doc_ids)
        torch.testing.assert_close(logits[~in_target], logits_changed[~in_target], atol=1e-5, rtol=1e-5)
        for i in range(len(lengths)):
            alone = model(tokens[doc_ids == i][None])[0]
            torch.testing.assert_close(logits[0, doc_ids[0] == i], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("family", "overrides"), [("llama", {"n_kv_heads": 2}), ("bloom", {})])
def test_flex_document_mask_matches_dense_reference(tiny_model, family, overrides):
    model = tiny_model(family, **overrides)
    doc_ids = torch.tensor([[0] * 5 + [1] * 9 + [2] * 6, [0] * 20])
    tokens = torch.randint(0, VOCAB, doc_ids.shape)
    with torch.no_grad():
        model.document_attention = "dense"
        dense = model(tokens, doc_ids=doc_ids)
        model.document_attention = "flex"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # eager FlexAttention on CPU warns that it is unfused
            flex = model(tokens, doc_ids=doc_ids)
    torch.testing.assert_close(flex, dense, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_left_padding_does_not_change_real_token_logits(tiny_model, family):
    model = tiny_model(family)
    short, long = torch.randint(0, VOCAB, (1, 5)), torch.randint(0, VOCAB, (1, 9))
    batch = torch.cat([torch.cat([torch.zeros(1, 4, dtype=torch.long), short], 1), long])
    token_mask = torch.ones(2, 9, dtype=torch.bool)
    token_mask[0, :4] = False
    with torch.no_grad():
        padded = model(batch, token_mask=token_mask)
        torch.testing.assert_close(padded[0, 4:], model(short)[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(padded[1], model(long)[0], atol=1e-5, rtol=1e-5)
