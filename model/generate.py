"""Autoregressive generation with a KV cache: greedy, temperature, top-k and top-p sampling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from ccrefine.model.decoder import Decoder
from ccrefine.model.kv_cache import KVCache


def sample_next_token(
    logits: torch.Tensor,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Next token per row of (batch, vocab) logits; ``temperature=0`` is greedy (argmax).

    top-k keeps the k most likely tokens; top-p (nucleus) keeps the smallest set of most likely tokens
    whose probability reaches p. Both filters apply before sampling at ``temperature``.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy); got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None; got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None; got {top_p}")
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth_largest = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a token once the tokens ranked above it already carry probability p.
        drop_sorted = probs.cumsum(-1) - probs >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(
    model: Decoder,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    pad_id: int = 0,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Continue each prompt by up to ``max_new_tokens`` tokens; returns only the new tokens.

    Prompts of different lengths are batched with left padding: a token mask hides the padding and
    positions count real tokens only, so each row generates what it would generate alone. A row stops
    after emitting ``eos_id`` (which is included in its output); the batch stops when all rows have.
    """
    if not prompts or any(len(prompt) == 0 for prompt in prompts):
        raise ValueError("generate needs at least one prompt and every prompt needs at least one token")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1; got {max_new_tokens}")
    parameter = next(model.parameters())
    width = max(len(prompt) for prompt in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long, device=parameter.device)
    token_mask = torch.zeros(len(prompts), width, dtype=torch.bool, device=parameter.device)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        token_mask[row, width - len(prompt) :] = True
    padded = any(len(prompt) != width for prompt in prompts)

    cache = KVCache(model.config, len(prompts), width + max_new_tokens, parameter.device, parameter.dtype)
    logits = model(input_ids, token_mask=token_mask if padded else None, kv_cache=cache)[:, -1]
    outputs: list[list[int]] = [[] for _ in prompts]
    finished = [False] * len(prompts)
    for step in range(max_new_tokens):
        next_tokens = sample_next_token(
            logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator
        )
        for row, token in enumerate(next_tokens.tolist()):
            if not finished[row]:
                outputs[row].append(token)
                finished[row] = token == eos_id
        if all(finished) or step == max_new_tokens - 1:
            break
        logits = model(next_tokens[:, None], kv_cache=cache)[:, -1]
    return outputs
