"""Parameter counts, training FLOPs per token, GPU peak FLOP/s and model FLOPs utilisation (MFU)."""

from __future__ import annotations

import re

from ccrefine.model.config import ModelConfig


def _norm_params(config: ModelConfig) -> int:
    if config.norm == "layernorm" and config.norm_bias:
        return 2 * config.d_model
    return config.d_model


def layer_parameters(config: ModelConfig) -> int:
    """Parameters of one block: attention, FFN and its norms."""
    d, hidden = config.d_model, config.ffn_hidden
    qkv_out = (config.n_heads + 2 * config.n_kv_heads) * config.head_dim
    attention = d * qkv_out + d * d + (qkv_out + d if config.bias else 0)
    ffn_matrices = 3 if config.gated_ffn else 2
    ffn = ffn_matrices * d * hidden + ((ffn_matrices - 1) * hidden + d if config.bias else 0)
    norms = (1 if config.norm_placement == "parallel" else 2) * _norm_params(config)
    return attention + ffn + norms


def count_parameters(config: ModelConfig, include_embeddings: bool = True) -> int:
    """Exact number of distinct parameters of ``Decoder(config)``, computed without building it.

    Convention: a tied output head shares the token embedding and is counted once (as in the GPT-3
    and LLaMA papers' totals). ``include_embeddings=False`` leaves out the token and learned position
    tables (Kaplan et al. 2020's "non-embedding" count); an untied output head is kept, it is a matmul.
    """
    d, vocab = config.d_model, config.vocab_size
    total = config.n_layers * layer_parameters(config)
    if config.embedding_norm:
        total += _norm_params(config)
    if config.norm_placement != "post":
        total += _norm_params(config)
    if not config.tie_embeddings:
        total += vocab * d
    if include_embeddings:
        total += vocab * d
        if config.position == "learned":
            total += config.max_seq_len * d
    return total


def matmul_parameters(config: ModelConfig) -> int:
    """Parameters that take part in a matmul per token: everything but embedding lookups.

    A tied head is a matmul with the embedding table, so it counts here; the lookup itself does not.
    """
    tied_head = config.vocab_size * config.d_model if config.tie_embeddings else 0
    return count_parameters(config, include_embeddings=False) + tied_head


def flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward), PaLM appendix B / Chinchilla style:

        6 * N + 12 * n_layers * d_model * seq_len

    N = ``matmul_parameters(config)``: each parameter costs one multiply-add (2 FLOPs) forward and two
    backward. The second term is attention's Q.K^T and A.V: 2 * 2 * seq_len * d_model FLOPs per token
    and layer forward, tripled for the backward pass. Causal masking is not discounted (the usual
    convention), so MFU computed with this is comparable across papers.
    """
    return 6.0 * matmul_parameters(config) + 12.0 * config.n_layers * config.d_model * seq_len


# Dense (no sparsity) 16-bit tensor-core peak, TFLOP/s: bf16, or fp16 on GPUs without bf16 (V100, T4).
# From NVIDIA datasheets unless noted. Matched in order against torch.cuda.get_device_name().
PEAK_TFLOPS_16BIT: list[tuple[str, str, float]] = [
    ("GH200", r"\bGH200\b", 989.4),
    ("H200 NVL", r"\bH200\b.*\bNVL\b", 835.5),
    ("H200", r"\bH200\b", 989.4),
    ("H100 NVL", r"\bH100\b.*\bNVL\b", 835.5),
    ("H100 PCIe", r"\bH100\b.*\bPCIe\b", 756.0),
    ("H100 SXM", r"\bH100\b", 989.4),  # "NVIDIA H100 80GB HBM3"
    ("H800", r"\bH800\b", 989.4),
    ("B200", r"\bB200\b", 2250.0),
    ("A100", r"\bA100\b", 312.0),  # SXM and PCIe, 40 GB and 80 GB
    ("A800", r"\bA800\b", 312.0),
    ("A10G", r"\bA10G\b", 70.0),  # AWS-only part without an NVIDIA datasheet; commonly quoted figure
    ("A10", r"\bA10\b", 125.0),
    ("L40S", r"\bL40S\b", 362.05),
    ("L40", r"\bL40\b", 181.05),
    ("L4", r"\bL4\b", 121.0),
    ("V100", r"\bV100", 125.0),  # fp16; "Tesla V100-SXM2-16GB"
    ("T4", r"\bT4\b", 65.0),  # fp16
]


def peak_flops(device_name: str) -> float:
    """Peak dense 16-bit FLOP/s of one GPU named like ``torch.cuda.get_device_name()`` returns."""
    for _, pattern, tflops in PEAK_TFLOPS_16BIT:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return tflops * 1e12
    known = ", ".join(name for name, _, _ in PEAK_TFLOPS_16BIT)
    raise ValueError(
        f"no peak FLOP/s known for device {device_name!r}; known GPUs: {known}. "
        f"Add it to model.flops.PEAK_TFLOPS_16BIT"
    )


def mfu(tokens_per_s: float, flops_per_token: float, device_name: str, n_gpus: int = 1) -> float:
    """Model FLOPs utilisation: achieved training FLOP/s over the GPUs' combined dense 16-bit peak."""
    return tokens_per_s * flops_per_token / (peak_flops(device_name) * n_gpus)
