"""Answer the recipe's preview prompts with the base model and with the final adapter, side by side."""

from __future__ import annotations

from pathlib import Path

from align.generation.hf import hf_generate
from align.models.load import load_base_model, load_tokenizer
from align.runtime.context import resolve_precision

MAX_NEW_TOKENS = 64


def before_after(base_model: str, adapter: Path, prompts: list[str]) -> list[tuple[str, str, str]]:
    from peft import PeftModel

    tokenizer = load_tokenizer(base_model)
    chats = [[{"role": "user", "content": p}] for p in prompts]
    model = load_base_model(base_model, resolve_precision("auto"))
    before = hf_generate(model, tokenizer, chats, max_new_tokens=MAX_NEW_TOKENS)
    tuned = PeftModel.from_pretrained(model, adapter)
    after = hf_generate(tuned, tokenizer, chats, max_new_tokens=MAX_NEW_TOKENS)
    return [(p, b[0].strip(), a[0].strip()) for p, b, a in zip(prompts, before, after, strict=True)]
