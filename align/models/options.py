"""How a model is loaded beyond its weights: attention kernel and rotary scaling, from the recipe's model_options.

Pure decisions (`attention_for`, `scaled_rope`) are separate from the config they are applied to, so they are
tested without loading anything.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from align.config.schema import ModelOptions, RopeScalingSpec


def attention_for(choice: str, on_gpu: bool, precision: str, flash_installed: bool | None = None) -> str:
    """auto: flash_attention_2 where it runs (CUDA, fp16/bf16, flash-attn installed), else PyTorch's SDPA."""
    if choice != "auto":
        return choice
    if flash_installed is None:
        flash_installed = importlib.util.find_spec("flash_attn") is not None
    return "flash_attention_2" if on_gpu and precision in ("bf16", "fp16") and flash_installed else "sdpa"


def scaled_rope(rope: dict[str, Any], max_positions: int, spec: RopeScalingSpec) -> tuple[dict[str, Any], int]:
    """The config's rope parameters with YaRN applied, and the new max_position_embeddings."""
    original = spec.original_max_position_embeddings or max_positions
    scaled = {
        **rope,
        "rope_type": spec.type,
        "factor": spec.factor,
        "original_max_position_embeddings": original,
    }
    return scaled, int(original * spec.factor)


def load_kwargs(location: str, options: ModelOptions | None, precision: str, on_gpu: bool) -> dict[str, Any]:
    """Extra from_pretrained keyword arguments: attn_implementation, and a config carrying YaRN when asked."""
    options = options or ModelOptions()
    attention = attention_for(options.attn_implementation, on_gpu, precision)
    # auto without flash-attn leaves the choice to transformers (sdpa where the architecture has it, else eager).
    auto_default = options.attn_implementation == "auto" and attention == "sdpa"
    kwargs: dict[str, Any] = {} if auto_default else {"attn_implementation": attention}
    if options.rope_scaling is not None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(location)
        text = getattr(config, "text_config", None) or config
        rope = dict(getattr(text, "rope_parameters", None) or {"rope_theta": getattr(text, "rope_theta", 10000.0)})
        text.rope_parameters, text.max_position_embeddings = scaled_rope(
            rope, text.max_position_embeddings, options.rope_scaling
        )
        kwargs["config"] = config
    return kwargs
