"""FLOPs per token against torch's FLOP counter, and the peak-FLOPs / MFU table."""

from __future__ import annotations

import pytest
import torch
from ccrefine.model.decoder import Decoder
from ccrefine.model.flops import count_parameters, flops_per_token, matmul_parameters, mfu, peak_flops
from ccrefine.model.presets import FAMILIES, get_preset
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


@pytest.mark.parametrize("family", list(FAMILIES))
def test_flops_per_token_matches_counted_matmuls(family):
    """torch counts every matmul of a forward + backward pass; the formula adds only the few FLOPs of
    norms and biases (6 per parameter), so the two agree to within 2%."""
    torch.manual_seed(0)
    config = get_preset(family, "tiny", vocab_size=128)
    model = Decoder(config)
    batch, seq_len = 2, 64
    tokens = torch.randint(0, 128, (batch, seq_len))
    counter = FlopCounterMode(display=False)
    with counter, sdpa_kernel(SDPBackend.MATH):  # the math kernel is made of countable matmuls
        model.loss(tokens, tokens).backward()
    counted = counter.get_total_flops() / (batch * seq_len)
    assert counted == pytest.approx(flops_per_token(config, seq_len), rel=0.02)


def test_flops_formula_terms():
    config = get_preset("llama", "7b", vocab_size=32000)
    n = matmul_parameters(config)
    # Untied: the input embedding is a lookup (no FLOPs), the output head a matmul.
    assert n == count_parameters(config) - 32000 * 4096
    assert flops_per_token(config, 2048) == 6 * n + 12 * 32 * 4096 * 2048
    tied = get_preset("gpt3", "125m", vocab_size=50257)
    assert matmul_parameters(tied) == count_parameters(tied) - tied.max_seq_len * tied.d_model


@pytest.mark.parametrize(
    ("device_name", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", 989.4),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA H100 NVL", 835.5),
        ("NVIDIA H200", 989.4),
        ("NVIDIA GH200 480GB", 989.4),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("NVIDIA A100-PCIE-40GB", 312.0),
        ("NVIDIA A100 80GB PCIe", 312.0),
        ("NVIDIA A10G", 70.0),
        ("NVIDIA A10", 125.0),
        ("NVIDIA L4", 121.0),
        ("NVIDIA L40S", 362.05),
        ("Tesla V100-SXM2-16GB", 125.0),
        ("Tesla T4", 65.0),
    ],
)
def test_peak_flops_matches_cuda_device_names(device_name, tflops):
    assert peak_flops(device_name) == pytest.approx(tflops * 1e12)


def test_mfu():
    # 4 GPUs achieving 400 TFLOP/s each, against an H100 SXM peak of 989.4 TFLOP/s.
    tokens_per_s, per_token = 1e6, 4 * 400e12 / 1e6
    assert mfu(tokens_per_s, per_token, "NVIDIA H100 80GB HBM3", n_gpus=4) == pytest.approx(400 / 989.4)
    with pytest.raises(ValueError, match="no peak FLOP/s known for device 'Radeon 9700'"):
        mfu(1.0, 1.0, "Radeon 9700")
