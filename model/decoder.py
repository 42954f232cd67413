"""The decoder-only transformer, its language-model loss, and save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import safetensors.torch
import torch
import torch.nn.functional as F
from ccrefine.model.block import Block
from ccrefine.model.config import ModelConfig
from ccrefine.model.initialization import initialize_weights
from ccrefine.model.kv_cache import KVCache
from ccrefine.model.layers import make_norm
from ccrefine.model.masks import build_attention_mask
from ccrefine.model.positions import (
    positions_from_token_mask,
    positions_within_documents,
    rope_cos_sin,
)
from torch import nn

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

DocumentAttention = Literal["auto", "flex", "dense"]


class Decoder(nn.Module):
    """Token embedding, ``n_layers`` blocks, final norm (none after post-norm blocks), LM head.

    ``document_attention`` picks how document masks run: ``auto`` uses FlexAttention on CUDA and the
    dense reference mask elsewhere; ``flex`` / ``dense`` force one (tests compare the two).
    """

    def __init__(self, config: ModelConfig, document_attention: DocumentAttention = "auto") -> None:
        super().__init__()
        self.config = config
        self.document_attention = document_attention
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_embeddings = (
            nn.Embedding(config.max_seq_len, config.d_model) if config.position == "learned" else None
        )
        self.embedding_norm = make_norm(config) if config.embedding_norm else None
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = None if config.norm_placement == "post" else make_norm(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.tok_embeddings.weight
        initialize_weights(self, config)

    def forward(
        self,
        input_ids: torch.Tensor,
        *,
        doc_ids: torch.Tensor | None = None,
        token_mask: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Logits (batch, seq, vocab) for ``input_ids`` (batch, seq).

        doc_ids: (batch, seq) document id per token of a packed sequence (see ``doc_ids_from_eos``);
            attention stays inside each document and positions restart at each document.
        token_mask: (batch, seq) True for real tokens, False for padding (left padding in generation).
        positions: (batch, seq) position ids for RoPE / learned embeddings; by default derived from the
            above (ALiBi needs none: it biases by query-key distance).
        kv_cache: cache to read earlier tokens from and append these to (generation).
        """
        config = self.config
        seq_len = input_ids.shape[1]
        if doc_ids is not None and kv_cache is not None:
            raise ValueError("doc_ids is for packed training sequences and cannot be combined with kv_cache")
        past = kv_cache.length if kv_cache is not None else 0
        if config.position == "learned" and past + seq_len > config.max_seq_len:
            raise ValueError(
                f"sequence of {past + seq_len} tokens exceeds max_seq_len ({config.max_seq_len}) of the "
                f"learned position table; shorten the input or build the model with a larger max_seq_len"
            )
        if positions is None:
            positions = self._default_positions(input_ids, doc_ids, token_mask, kv_cache)
        if kv_cache is not None:
            kv_cache.append(seq_len, token_mask)
            key_mask = kv_cache.token_mask[:, : past + seq_len] if kv_cache.has_padding else None
        else:
            key_mask = token_mask

        x = self.tok_embeddings(input_ids)
        if self.pos_embeddings is not None:
            x = x + self.pos_embeddings(positions)
        if self.embedding_norm is not None:
            x = self.embedding_norm(x)
        rope = (
            rope_cos_sin(positions, config.head_dim, config.rope_theta, x.dtype)
            if config.position == "rope"
            else None
        )
        use_flex = self.document_attention == "flex" or (self.document_attention == "auto" and x.is_cuda)
        mask = build_attention_mask(
            seq_len,
            past,
            key_mask=key_mask,
            doc_ids=doc_ids,
            alibi_heads=config.n_heads if config.position == "alibi" else None,
            use_flex=use_flex,
            device=x.device,
            dtype=x.dtype,
        )
        for layer, block in enumerate(self.blocks):
            x = block(x, mask, rope, kv_cache, layer)
        if self.norm is not None:
            x = self.norm(x)
        return self.lm_head(x)

    def _default_positions(
        self,
        input_ids: torch.Tensor,
        doc_ids: torch.Tensor | None,
        token_mask: torch.Tensor | None,
        kv_cache: KVCache | None,
    ) -> torch.Tensor:
        if doc_ids is not None:
            return positions_within_documents(doc_ids)
        past = kv_cache.length if kv_cache is not None else 0
        if token_mask is None and (kv_cache is None or not kv_cache.has_padding):
            return torch.arange(past, past + input_ids.shape[1], device=input_ids.device)[None]
        if token_mask is None:
            token_mask = torch.ones_like(input_ids, dtype=torch.bool)
        offset = kv_cache.real_token_count(past) if kv_cache is not None else None
        return positions_from_token_mask(token_mask, offset)

    def loss(self, input_ids: torch.Tensor, targets: torch.Tensor, **forward_kwargs) -> torch.Tensor:
        """Mean next-token cross-entropy; ``targets`` are the inputs shifted left by one (-100 = ignore)."""
        return lm_loss(self(input_ids, **forward_kwargs), targets)

    def save(self, path: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_FILE).write_text(self.config.to_json())
        safetensors.torch.save_model(self, str(path / WEIGHTS_FILE))

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Decoder:
        """Rebuild a model written by :meth:`save`."""
        path = Path(path)
        model = cls(ModelConfig.from_json((path / CONFIG_FILE).read_text()))
        safetensors.torch.load_model(model, str(path / WEIGHTS_FILE), device=str(device))
        return model.to(device)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Cross-entropy over (batch, seq, vocab) logits, computed in fp32 for bf16 stability."""
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=ignore_index
    )
