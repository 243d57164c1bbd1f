"""Sampling chat prompts with HF models: the backend that works everywhere (CPU, any GPU, no vLLM)."""

from __future__ import annotations

from align.generation.decode import sample_ids


def render_prompts(tokenizer, prompts: list[list[dict[str, str]]]) -> list[str]:
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]


def eos_ids(model, tokenizer) -> list[int]:
    """Every id that ends an answer: the tokenizer's EOS and the model's (an end-of-turn token may differ)."""
    declared = model.generation_config.eos_token_id
    ids = [] if declared is None else [declared] if isinstance(declared, int) else list(declared)
    return list(dict.fromkeys([tokenizer.eos_token_id, *ids]))


def hf_generate(
    model,
    tokenizer,
    prompts: list[list[dict[str, str]]],
    *,
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int = 128,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = False,
) -> list[list[str]]:
    """`n` completions for each chat prompt; temperature 0 means greedy (and then n copies are identical).

    Runs align.generation.decode (length-sorted batches, one prefill per prompt, finished answers leave the batch);
    greedy answers are token for token those of `model.generate`.
    """
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in render_prompts(tokenizer, prompts)]
    groups = sample_ids(
        model,
        ids,
        n=n,
        max_new_tokens=max_new_tokens,
        eos_token_ids=eos_ids(model, tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        temperature=temperature,
        top_p=top_p,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
    return [tokenizer.batch_decode(group, skip_special_tokens=True) for group in groups]
