"""The decoder-only transformer in plain PyTorch: config, layers, presets, generation, HF export."""

from ccrefine.model.config import ModelConfig
from ccrefine.model.decoder import Decoder, lm_loss
from ccrefine.model.flops import count_parameters, flops_per_token, mfu, peak_flops
from ccrefine.model.generate import generate, sample_next_token
from ccrefine.model.hf_export import export_hf
from ccrefine.model.kv_cache import KVCache
from ccrefine.model.positions import doc_ids_from_eos
from ccrefine.model.presets import get_preset

__all__ = [
    "Decoder",
    "KVCache",
    "ModelConfig",
    "count_parameters",
    "doc_ids_from_eos",
    "export_hf",
    "flops_per_token",
    "generate",
    "get_preset",
    "lm_loss",
    "mfu",
    "peak_flops",
    "sample_next_token",
]
