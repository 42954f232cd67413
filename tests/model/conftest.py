"""Fixtures for model tests: tiny seeded models built from presets (nothing is downloaded)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from ccrefine.model.decoder import Decoder
from ccrefine.model.presets import get_preset


@pytest.fixture
def tiny_model() -> Callable[..., Decoder]:
    """Build ``get_preset(family, "tiny")`` with a fixed seed; norms and biases are perturbed away from
    their 1/0 initial values so tests also exercise them."""

    def build(family: str, seed: int = 0, vocab_size: int = 97, **overrides) -> Decoder:
        torch.manual_seed(seed)
        model = Decoder(get_preset(family, "tiny", vocab_size=vocab_size, **overrides))
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if parameter.ndim == 1 or "norm" in name:
                    parameter.add_(0.1 * torch.randn_like(parameter))
        return model.eval()

    return build
