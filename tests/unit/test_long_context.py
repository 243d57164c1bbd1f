"""SFT end to end on answers longer than 8K tokens, past the model's native context with YaRN, truncation counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.cli import main

NATIVE = 4096


@pytest.fixture(scope="module")
def short_context_model(builtin_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random Llama trained (so to speak) for 4K positions, with the real tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-4k")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=NATIVE,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_sft_on_answers_over_8k_tokens_with_yarn(tmp_path: Path, short_context_model: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(short_context_model)
    # " word" is one token: an answer of 8,300 tokens that fits, and one of 9,000 that max_length must cut.
    rows = [{"prompt": f"Repeat a word {n} times.", "completion": " word" * n} for n in (8300, 9000)]
    lengths = [len(tokenizer(r["completion"], add_special_tokens=False)["input_ids"]) for r in rows]
    assert min(lengths) > 8192 and max(lengths) > 8448
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "long.yaml"
    stage = {
        "name": "sft", "kind": "sft", "data": str(data), "max_length": 8448, "batch_size": 1, "max_steps": 2,
        "report_to": [], "logging_steps": 1,
    }  # fmt: skip
    recipe.write_text(
        yaml.safe_dump(
            {
                "model": short_context_model,
                "lora": {"r": 4, "alpha": 8},
                # 2.5x the native 4K positions covers the 8,448-token rows.
                "model_options": {"rope_scaling": {"factor": 2.5}},
                "stages": [stage],
            }
        )
    )
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run")]) == 0
    manifest = json.loads((tmp_path / "run" / "sft" / "manifest.json").read_text())
    assert manifest["metrics"]["train_rows"] == 2
    assert manifest["metrics"]["truncated_rows"] == 1
    assert manifest["metrics"]["steps"] == 2
    assert manifest["model_options"]["rope_scaling"]["factor"] == 2.5
    history = json.loads((tmp_path / "run" / "sft" / "log_history.json").read_text())
    tokens = max(entry.get("num_tokens", 0) for entry in history)
    assert tokens > 2 * 8192  # both rows, each over 8K tokens, went through training
