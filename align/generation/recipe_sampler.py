"""The sampler a stage uses, configured from its recipe: the policy loads as training loads it (4-bit, attention,
YaRN), and vLLM's context fits the stage's longest prompt plus the tokens it generates."""

from __future__ import annotations

from pathlib import Path

from align.config.init_ref import adapter_rank
from align.config.schema import Recipe
from align.generation.backend import BackendName, Sampler, make_sampler, resolve_backend
from align.generation.vllm_settings import longest_prompt, model_len
from align.models.load import load_tokenizer


def recipe_sampler(
    recipe: Recipe,
    backend: BackendName,
    base_model: str,
    precision: str,
    adapter: Path | None,
    prompts: list,
    new_tokens: int,
    batch_size: int | None = None,
) -> Sampler:
    context = 4096
    if resolve_backend(backend) == "vllm":
        context = model_len(longest_prompt(load_tokenizer(base_model), prompts), new_tokens)
    return make_sampler(
        backend,
        base_model,
        precision,
        adapter=adapter,
        lora_rank=adapter_rank(adapter, recipe.lora.r),
        quantize=recipe.lora.quantize,
        options=recipe.model_options,
        vllm=recipe.vllm,
        max_model_len=context,
        batch_size=batch_size,
    )
