"""Export to a Hugging Face ``transformers`` folder (config.json + model.safetensors [+ tokenizer]).

A config is exported to the first architecture whose computation it matches exactly, so the exported
model produces the same logits: LlamaForCausalLM, GPT2LMHeadModel, FalconForCausalLM or
BloomForCausalLM. Anything else (e.g. PaLM's parallel SwiGLU block, GLM's post-norm) raises an error
naming what each architecture would need. Only the JSON and safetensors formats are written here;
``transformers`` itself is not needed to export.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from ccrefine.model.config import ModelConfig
from ccrefine.model.decoder import Decoder

Requirement = tuple[str, Callable[[ModelConfig], bool]]


@dataclass(frozen=True)
class _Target:
    architecture: str
    model_type: str
    requirements: list[Requirement]
    config: Callable[[ModelConfig], dict[str, Any]]
    weights: Callable[[Decoder], dict[str, torch.Tensor]]

    def unmet(self, config: ModelConfig) -> list[str]:
        return [need for need, holds in self.requirements if not holds(config)]


def _grouped_qkv(tensor: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Reorder our [all queries; all keys; all values] rows into per-KV-group blocks
    [queries of group g; key g; value g], the fused layout of Falcon and (one head per group) BLOOM."""
    heads, groups, head_dim = config.n_heads, config.n_kv_heads, config.head_dim
    rest = tensor.shape[1:]
    q, k, v = tensor.split([heads * head_dim, groups * head_dim, groups * head_dim])
    q = q.reshape(groups, heads // groups * head_dim, *rest)
    k = k.reshape(groups, head_dim, *rest)
    v = v.reshape(groups, head_dim, *rest)
    return torch.cat([q, k, v], dim=1).reshape(-1, *rest)


def _linear(prefix: str, linear: torch.nn.Linear, transpose: bool = False) -> dict[str, torch.Tensor]:
    # GPT-2 stores its projections as Conv1D, i.e. (in, out).
    tensors = {f"{prefix}.weight": linear.weight.T if transpose else linear.weight}
    if linear.bias is not None:
        tensors[f"{prefix}.bias"] = linear.bias
    return tensors


def _norm(prefix: str, norm: torch.nn.Module) -> dict[str, torch.Tensor]:
    tensors = {f"{prefix}.weight": norm.weight}
    if getattr(norm, "bias", None) is not None:
        tensors[f"{prefix}.bias"] = norm.bias
    return tensors


def _rope_fields(config: ModelConfig) -> dict[str, Any]:
    # rope_theta for transformers 4.x, rope_parameters for 5.x.
    return {
        "rope_theta": config.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
    }


# --- Llama -----------------------------------------------------------------------------------------


def _llama_config(config: ModelConfig) -> dict[str, Any]:
    return {
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.ffn_hidden,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.n_kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "rms_norm_eps": config.norm_eps,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": config.tie_embeddings,
        **_rope_fields(config),
    }


def _llama_weights(model: Decoder) -> dict[str, torch.Tensor]:
    config = model.config
    q_dim, kv_dim = config.n_heads * config.head_dim, config.n_kv_heads * config.head_dim
    tensors = {"model.embed_tokens.weight": model.tok_embeddings.weight}
    for i, block in enumerate(model.blocks):
        prefix = f"model.layers.{i}"
        q, k, v = block.attn.qkv.weight.split([q_dim, kv_dim, kv_dim])
        tensors.update(
            {
                f"{prefix}.input_layernorm.weight": block.attn_norm.weight,
                f"{prefix}.self_attn.q_proj.weight": q,
                f"{prefix}.self_attn.k_proj.weight": k,
                f"{prefix}.self_attn.v_proj.weight": v,
                f"{prefix}.self_attn.o_proj.weight": block.attn.out.weight,
                f"{prefix}.post_attention_layernorm.weight": block.ffn_norm.weight,
                f"{prefix}.mlp.gate_proj.weight": block.ffn.gate.weight,
                f"{prefix}.mlp.up_proj.weight": block.ffn.up.weight,
                f"{prefix}.mlp.down_proj.weight": block.ffn.down.weight,
            }
        )
    tensors["model.norm.weight"] = model.norm.weight
    if not config.tie_embeddings:
        tensors["lm_head.weight"] = model.lm_head.weight
    return tensors


# --- GPT-2 -----------------------------------------------------------------------------------------


def _gpt2_config(config: ModelConfig) -> dict[str, Any]:
    return {
        "vocab_size": config.vocab_size,
        "n_positions": config.max_seq_len,
        "n_embd": config.d_model,
        "n_layer": config.n_layers,
        "n_head": config.n_heads,
        "n_inner": config.ffn_hidden,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": config.norm_eps,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "scale_attn_weights": True,
        "tie_word_embeddings": True,
    }


def _gpt2_weights(model: Decoder) -> dict[str, torch.Tensor]:
    tensors = {
        "transformer.wte.weight": model.tok_embeddings.weight,
        "transformer.wpe.weight": model.pos_embeddings.weight,
    }
    for i, block in enumerate(model.blocks):
        prefix = f"transformer.h.{i}"
        tensors.update(_norm(f"{prefix}.ln_1", block.attn_norm))
        tensors.update(_linear(f"{prefix}.attn.c_attn", block.attn.qkv, transpose=True))
        tensors.update(_linear(f"{prefix}.attn.c_proj", block.attn.out, transpose=True))
        tensors.update(_norm(f"{prefix}.ln_2", block.ffn_norm))
        tensors.update(_linear(f"{prefix}.mlp.c_fc", block.ffn.up, transpose=True))
        tensors.update(_linear(f"{prefix}.mlp.c_proj", block.ffn.down, transpose=True))
    tensors.update(_norm("transformer.ln_f", model.norm))
    return tensors


# --- Falcon ----------------------------------------------------------------------------------------


def _falcon_config(config: ModelConfig) -> dict[str, Any]:
    multi_query = config.n_kv_heads == 1
    # Falcon-7B's layout covers multi-query; other head counts need the "new" (40B) layout with one
    # shared LayerNorm, which computes the same parallel block.
    layout = (
        {"multi_query": True, "new_decoder_architecture": False}
        if multi_query
        else {"multi_query": False, "new_decoder_architecture": True, "num_ln_in_parallel_attn": 1}
    )
    return {
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_kv_heads": config.n_kv_heads,
        "parallel_attn": True,
        "alibi": False,
        "bias": config.bias,
        "layer_norm_epsilon": config.norm_eps,
        "max_position_embeddings": config.max_seq_len,
        "ffn_hidden_size": config.ffn_hidden,
        "activation": "gelu",
        "tie_word_embeddings": config.tie_embeddings,
        **layout,
        **_rope_fields(config),
    }


def _falcon_weights(model: Decoder) -> dict[str, torch.Tensor]:
    config = model.config
    tensors = {"transformer.word_embeddings.weight": model.tok_embeddings.weight}
    for i, block in enumerate(model.blocks):
        prefix = f"transformer.h.{i}"
        tensors.update(_norm(f"{prefix}.input_layernorm", block.attn_norm))
        tensors[f"{prefix}.self_attention.query_key_value.weight"] = _grouped_qkv(
            block.attn.qkv.weight, config
        )
        if block.attn.qkv.bias is not None:
            tensors[f"{prefix}.self_attention.query_key_value.bias"] = _grouped_qkv(
                block.attn.qkv.bias, config
            )
        tensors.update(_linear(f"{prefix}.self_attention.dense", block.attn.out))
        tensors.update(_linear(f"{prefix}.mlp.dense_h_to_4h", block.ffn.up))
        tensors.update(_linear(f"{prefix}.mlp.dense_4h_to_h", block.ffn.down))
    tensors.update(_norm("transformer.ln_f", model.norm))
    if not config.tie_embeddings:
        tensors["lm_head.weight"] = model.lm_head.weight
    return tensors


# --- BLOOM -----------------------------------------------------------------------------------------


def _bloom_config(config: ModelConfig) -> dict[str, Any]:
    return {
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "n_layer": config.n_layers,
        "n_head": config.n_heads,
        "layer_norm_epsilon": config.norm_eps,
        "apply_residual_connection_post_layernorm": False,
        "slow_but_exact": False,
        "pretraining_tp": 1,
        "tie_word_embeddings": True,
    }


def _bloom_weights(model: Decoder) -> dict[str, torch.Tensor]:
    config = model.config
    tensors = {"transformer.word_embeddings.weight": model.tok_embeddings.weight}
    tensors.update(_norm("transformer.word_embeddings_layernorm", model.embedding_norm))
    for i, block in enumerate(model.blocks):
        prefix = f"transformer.h.{i}"
        tensors.update(_norm(f"{prefix}.input_layernorm", block.attn_norm))
        tensors[f"{prefix}.self_attention.query_key_value.weight"] = _grouped_qkv(
            block.attn.qkv.weight, config
        )
        tensors[f"{prefix}.self_attention.query_key_value.bias"] = _grouped_qkv(block.attn.qkv.bias, config)
        tensors.update(_linear(f"{prefix}.self_attention.dense", block.attn.out))
        tensors.update(_norm(f"{prefix}.post_attention_layernorm", block.ffn_norm))
        tensors.update(_linear(f"{prefix}.mlp.dense_h_to_4h", block.ffn.up))
        tensors.update(_linear(f"{prefix}.mlp.dense_4h_to_h", block.ffn.down))
    tensors.update(_norm("transformer.ln_f", model.norm))
    return tensors


def _layernorm_with_bias(c: ModelConfig) -> bool:
    return c.norm == "layernorm" and c.norm_bias


TARGETS: list[_Target] = [
    _Target(
        "LlamaForCausalLM",
        "llama",
        [
            ("position='rope'", lambda c: c.position == "rope"),
            ("norm='rmsnorm'", lambda c: c.norm == "rmsnorm"),
            ("norm_placement='pre'", lambda c: c.norm_placement == "pre"),
            ("ffn='swiglu'", lambda c: c.ffn == "swiglu"),
            ("bias=False", lambda c: not c.bias),
            ("embedding_norm=False", lambda c: not c.embedding_norm),
        ],
        _llama_config,
        _llama_weights,
    ),
    _Target(
        "GPT2LMHeadModel",
        "gpt2",
        [
            ("position='learned'", lambda c: c.position == "learned"),
            ("norm='layernorm' with norm_bias=True", _layernorm_with_bias),
            ("norm_placement='pre'", lambda c: c.norm_placement == "pre"),
            (
                "ffn='gelu' with gelu_approximate='tanh'",
                lambda c: c.ffn == "gelu" and c.gelu_approximate == "tanh",
            ),
            ("bias=True", lambda c: c.bias),
            ("tie_embeddings=True", lambda c: c.tie_embeddings),
            ("n_kv_heads == n_heads", lambda c: c.n_kv_heads == c.n_heads),
            ("embedding_norm=False", lambda c: not c.embedding_norm),
        ],
        _gpt2_config,
        _gpt2_weights,
    ),
    _Target(
        "FalconForCausalLM",
        "falcon",
        [
            ("position='rope'", lambda c: c.position == "rope"),
            ("norm='layernorm' with norm_bias=True", _layernorm_with_bias),
            ("norm_placement='parallel'", lambda c: c.norm_placement == "parallel"),
            (
                "ffn='gelu' with gelu_approximate='none'",
                lambda c: c.ffn == "gelu" and c.gelu_approximate == "none",
            ),
            ("embedding_norm=False", lambda c: not c.embedding_norm),
        ],
        _falcon_config,
        _falcon_weights,
    ),
    _Target(
        "BloomForCausalLM",
        "bloom",
        [
            ("position='alibi'", lambda c: c.position == "alibi"),
            ("norm='layernorm' with norm_bias=True", _layernorm_with_bias),
            ("norm_placement='pre'", lambda c: c.norm_placement == "pre"),
            ("embedding_norm=True", lambda c: c.embedding_norm),
            (
                "ffn='gelu' with gelu_approximate='tanh'",
                lambda c: c.ffn == "gelu" and c.gelu_approximate == "tanh",
            ),
            ("ffn_hidden == 4 * d_model", lambda c: c.ffn_hidden == 4 * c.d_model),
            ("bias=True", lambda c: c.bias),
            ("tie_embeddings=True", lambda c: c.tie_embeddings),
            ("n_kv_heads == n_heads", lambda c: c.n_kv_heads == c.n_heads),
        ],
        _bloom_config,
        _bloom_weights,
    ),
]


def hf_target(config: ModelConfig) -> _Target:
    """The Hugging Face architecture that computes exactly what ``config`` does, or a clear error."""
    for target in TARGETS:
        if not target.unmet(config):
            return target
    reasons = "; ".join(f"{t.architecture} needs {', '.join(t.unmet(config))}" for t in TARGETS)
    raise ValueError(
        f"no Hugging Face architecture computes this model exactly, so it cannot be exported: {reasons}"
    )


def export_hf(
    model: Decoder,
    path: str | Path,
    *,
    tokenizer_model: str | Path | None = None,
    bos_token_id: int | None = None,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    add_bos_token: bool = True,
) -> str:
    """Write ``model`` as a Hugging Face folder that ``from_pretrained`` loads offline; returns the
    architecture name.

    ``tokenizer_model``: a SentencePiece ``.model`` file, copied as ``tokenizer.model`` with a
    ``tokenizer_config.json`` for LlamaTokenizer / LlamaTokenizerFast. Those assume LLaMA's settings
    (BPE, byte fallback, no normalisation, no whitespace collapsing); a model trained otherwise loads
    but may tokenize differently. Its BOS/EOS/PAD ids fill in any token id not given explicitly.
    """
    config = model.config
    target = hf_target(config)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    special = _export_tokenizer(Path(tokenizer_model), path, config, add_bos_token) if tokenizer_model else {}
    token_ids = {
        "bos_token_id": bos_token_id if bos_token_id is not None else special.get("bos"),
        "eos_token_id": eos_token_id if eos_token_id is not None else special.get("eos"),
        "pad_token_id": pad_token_id if pad_token_id is not None else special.get("pad"),
    }
    dtype = str(model.tok_embeddings.weight.dtype).removeprefix("torch.")
    hf_config = {
        "architectures": [target.architecture],
        "model_type": target.model_type,
        **target.config(config),
        **token_ids,
        "torch_dtype": dtype,
    }
    (path / "config.json").write_text(json.dumps(hf_config, indent=2, sort_keys=True))
    # Copies: safetensors refuses views that share storage (the split fused projections).
    tensors = {
        name: t.detach().clone(memory_format=torch.contiguous_format)
        for name, t in target.weights(model).items()
    }
    safetensors.torch.save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    return target.architecture


def _export_tokenizer(source: Path, folder: Path, config: ModelConfig, add_bos_token: bool) -> dict[str, int]:
    """Copy a SentencePiece model and describe it for transformers; returns its special token ids."""
    import sentencepiece  # only needed when exporting a tokenizer

    processor = sentencepiece.SentencePieceProcessor(model_file=str(source))
    if processor.vocab_size() > config.vocab_size:
        raise ValueError(
            f"tokenizer has {processor.vocab_size()} pieces but the model's vocab_size is "
            f"{config.vocab_size}; export the tokenizer the model was trained with"
        )
    ids = {
        "bos": processor.bos_id(),
        "eos": processor.eos_id(),
        "unk": processor.unk_id(),
        "pad": processor.pad_id(),
    }
    ids = {
        name: token_id for name, token_id in ids.items() if token_id >= 0
    }  # SentencePiece uses -1 for "none"
    shutil.copyfile(source, folder / "tokenizer.model")
    tokenizer_config: dict[str, Any] = {
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": add_bos_token,
        "add_eos_token": False,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": config.max_seq_len,
    }
    for name, token_id in ids.items():
        tokenizer_config[f"{name}_token"] = processor.id_to_piece(token_id)
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2, sort_keys=True))
    return ids
