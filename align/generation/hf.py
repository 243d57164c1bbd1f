"""Batched sampling with HF `generate`: the backend that works everywhere (CPU, any GPU, no vLLM)."""

from __future__ import annotations

from typing import Any

import torch
from tqdm.auto import tqdm


def render_prompts(tokenizer, prompts: list[list[dict[str, str]]]) -> list[str]:
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]


@torch.inference_mode()
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
    """`n` completions for each chat prompt; temperature 0 means greedy (and then n copies are identical)."""
    texts = render_prompts(tokenizer, prompts)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
    torch.manual_seed(seed)
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {"do_sample": False}
    )
    expanded = [t for t in texts for _ in range(n)]
    out: list[str] = []
    was_training = model.training
    model.eval()
    try:
        bar = tqdm(total=len(expanded), desc="sampling", unit="seq", disable=not progress)
        for start in range(0, len(expanded), batch_size):
            chunk = expanded[start : start + batch_size]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
            generated = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                top_k=None,
                **sampling,
            )
            new = generated[:, enc["input_ids"].shape[1] :]
            out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
            bar.update(len(chunk))
        bar.close()
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return [out[i * n : (i + 1) * n] for i in range(len(prompts))]
