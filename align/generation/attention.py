"""Decoding attention without copying the KV cache for grouped-query heads: what align's sampling loop runs.

transformers' SDPA path repeats every key/value head for its query heads (`repeat_kv`) whenever an attention mask
is given, which is always the case for a left-padded batch: on each decoded token it copies the whole cache
n_rep times and the kernel then reads the copy. On a CPU that copy plus the larger read was about a quarter of
pair building's time (SmolLM2-135M: 9 query heads over 3 KV heads, 64 sequences). torch's own SDPA takes the
grouped heads with `enable_gqa=True` and a mask on the CPU, and gives the same values as the repeated call (it
computes the same products; tests/unit/test_decode.py checks the greedy tokens against `generate`).

`grouped_attention(model)` switches a model that uses "sdpa" to this function for the duration of a `with` block;
prefill, GPUs (where a mask sends grouped SDPA to the slow math kernel) and anything unusual go through
transformers' own function unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

NAME = "align_grouped_sdpa"


def grouped_sdpa(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    plain = (
        query.device.type != "cpu"
        or query.shape[2] != 1  # prefill: once per prompt, left to transformers
        or getattr(module, "num_key_value_groups", 1) == 1
        or kwargs.get("position_bias") is not None
        or kwargs.get("cache") is not None
        or kwargs.get("output_attentions", False)
    )
    if plain:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, enable_gqa=True
    )
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, grouped_sdpa)
AttentionMaskInterface.register(NAME, sdpa_mask)


@contextmanager
def grouped_attention(model) -> Iterator[None]:
    """Decode with `grouped_sdpa` inside the block when the model runs transformers' SDPA; otherwise unchanged."""
    config = model.config
    before = getattr(config, "_attn_implementation", None)
    if before != "sdpa":
        yield
        return
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before
