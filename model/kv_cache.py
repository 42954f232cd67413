"""Preallocated key/value cache for incremental decoding."""

from __future__ import annotations

import torch
from ccrefine.model.config import ModelConfig


class KVCache:
    """Keys and values of every layer, plus which cached tokens are padding.

    Buffers are allocated once for ``max_len`` tokens, so decoding writes in place instead of
    concatenating a growing tensor every step. The decoder calls :meth:`append` once per forward pass
    (count and padding of the new tokens), then each layer calls :meth:`write`.
    """

    def __init__(
        self,
        config: ModelConfig,
        batch_size: int,
        max_len: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (batch_size, config.n_kv_heads, max_len, config.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.token_mask = torch.ones(batch_size, max_len, dtype=torch.bool, device=device)
        self.max_len = max_len
        self.length = 0
        self.has_padding = False

    def append(self, new: int, token_mask: torch.Tensor | None) -> None:
        """Make room for ``new`` tokens and record their padding (None: all real)."""
        past = self.length
        if past + new > self.max_len:
            raise ValueError(
                f"KV cache holds {self.max_len} tokens but {past + new} were requested; "
                f"allocate the cache with a larger max_len"
            )
        if token_mask is not None:
            self.token_mask[:, past : past + new] = token_mask
            self.has_padding = True
        self.length = past + new

    def write(
        self, layer: int, keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's keys/values for ``layer``; returns all cached keys/values so far."""
        start = self.length - keys.shape[2]
        self.keys[layer][:, :, start : self.length] = keys
        self.values[layer][:, :, start : self.length] = values
        return self.keys[layer][:, :, : self.length], self.values[layer][:, :, : self.length]

    def real_token_count(self, upto: int) -> torch.Tensor:
        """Real (non-padding) tokens among the first ``upto`` cached ones, per sequence."""
        return self.token_mask[:, :upto].sum(-1)
