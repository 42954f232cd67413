from __future__ import annotations

import pytest
from ccrefine.model.config import ModelConfig, default_ffn_hidden
from hypothesis import given, settings
from hypothesis import strategies as st


def make(**overrides) -> ModelConfig:
    values = dict(vocab_size=100, d_model=64, n_layers=2, n_heads=4)
    values.update(overrides)
    return ModelConfig(**values)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            dict(d_model=768, n_heads=12, n_kv_heads=5),
            r"n_heads \(12\) must be divisible by n_kv_heads \(5\)",
        ),
        (dict(n_kv_heads=8), r"n_heads \(4\) must be divisible by n_kv_heads \(8\)"),
        (dict(n_kv_heads=0), "n_kv_heads"),
        (dict(d_model=100, n_heads=12), r"d_model \(100\) must be divisible by n_heads \(12\)"),
        (dict(d_model=36, n_heads=4, position="rope"), "head_dim .* must be even"),
        (dict(position="sinusoidal"), "position must be one of rope, learned, alibi, none; got 'sinusoidal'"),
        (dict(norm="batchnorm"), "norm must be one of"),
        (dict(norm_placement="sandwich"), "norm_placement must be one of"),
        (dict(ffn="relu"), "ffn must be one of"),
        (dict(init="xavier"), "init must be one of"),
        (dict(vocab_size=0), "vocab_size must be a positive integer"),
        (dict(n_layers=1.5), "n_layers must be a positive integer"),
        (dict(norm_eps=0.0), "norm_eps must be positive"),
        (dict(residual_scale=2.0), "residual_scale .* only applies to norm_placement='post'"),
        (dict(init="deepnorm"), "set norm_placement='post'"),
        (dict(ffn="swiglu", gelu_approximate="tanh"), "gelu_approximate only applies"),
        (dict(ffn_hidden=0), "ffn_hidden must be a positive integer"),
    ],
)
def test_invalid_config_names_the_fix(overrides, message):
    with pytest.raises(ValueError, match=message):
        make(**overrides)


@settings(max_examples=60, deadline=None)
@given(n_heads=st.integers(1, 32), n_kv_heads=st.integers(1, 32))
def test_kv_heads_must_divide_heads(n_heads, n_kv_heads):
    valid = n_kv_heads <= n_heads and n_heads % n_kv_heads == 0
    if valid:
        assert make(d_model=8 * n_heads, n_heads=n_heads, n_kv_heads=n_kv_heads).n_kv_heads == n_kv_heads
    else:
        with pytest.raises(ValueError, match="must be divisible by n_kv_heads"):
            make(d_model=8 * n_heads, n_heads=n_heads, n_kv_heads=n_kv_heads)


def test_defaults_resolve_to_explicit_values():
    config = make()
    assert config.n_kv_heads == 4  # MHA
    assert config.head_dim == 16
    assert config.ffn_hidden == 256  # int(2/3 * 256) = 170, rounded up to 256


def test_ffn_hidden_rules():
    assert default_ffn_hidden(4096, "swiglu", 256) == 11008  # LLaMA-7B
    assert default_ffn_hidden(768, "gelu", 256) == 3072
    assert make(ffn="gelu").ffn_hidden == 256
    assert make(ffn_hidden=100).ffn_hidden == 100


def test_json_round_trip_and_unknown_keys():
    config = make(position="alibi", norm="layernorm", n_kv_heads=2)
    assert ModelConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="unknown ModelConfig keys \\['dropout'\\]"):
        ModelConfig.from_dict({**config.to_dict(), "dropout": 0.1})
