"""Pairs by answer matching and DPO on the real default model: pairs exist, loss moves, manifest names its init."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.config.load import load_recipe
from align.runner import run_recipe

pytestmark = pytest.mark.integration


def test_sft_pairs_dpo_chain(builtin_model: str, chat_file: Path, tmp_path: Path, sft_pairs_stages):
    prompts = tmp_path / "prompts.jsonl"
    # One-digit sums the model mostly gets right, two-digit ones it mostly gets wrong: both kinds of answer.
    cases = [(3, 4), (2, 5), (6, 2), (17, 26), (38, 47), (29, 56)]
    prompts.write_text(
        "".join(json.dumps({"prompt": f"What is {a} + {b}?", "answer": str(a + b)}) + "\n" for a, b in cases)
    )
    recipe_path = tmp_path / "chain.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "stages": [
                    *sft_pairs_stages(
                        chat_file,
                        prompts,
                        sft={"max_steps": 6, "batch_size": 4, "learning_rate": 1e-3, "max_length": 128},
                        pairs={"k": 6, "max_new_tokens": 32},
                    ),
                    {
                        "name": "dpo",
                        "kind": "dpo",
                        "init": "sft",
                        "pairs": "pairs",
                        "max_steps": 3,
                        "batch_size": 2,
                        "learning_rate": 5e-4,
                        "logging_steps": 1,
                        "max_length": 128,
                        "report_to": [],
                    },
                ],
            }
        )
    )
    run_dir = tmp_path / "run"
    outcomes = run_recipe(load_recipe(recipe_path), run_dir)
    assert [o.status for o in outcomes] == ["ran", "ran", "ran"]

    stats = json.loads((run_dir / "pairs" / "stats.json").read_text())
    assert stats["samples"] == 36 and stats["prompts"] == 6
    assert 0 < stats["pass_rate"] < 1
    pairs = [json.loads(line) for line in (run_dir / "pairs" / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == stats["pairs"] >= 1
    for pair in pairs:
        assert pair["chosen_score"] == 1.0 and pair["rejected_score"] == 0.0
        assert pair["chosen"][0]["content"] != pair["rejected"][0]["content"]

    manifest = json.loads((run_dir / "dpo" / "manifest.json").read_text())
    assert manifest["inputs"]["init"] == str(run_dir / "sft")
    assert manifest["inputs"]["pairs"] == str(run_dir / "pairs")
    assert manifest["metrics"]["init_artifact"] == str(run_dir / "sft")
    history = json.loads((run_dir / "dpo" / "log_history.json").read_text())
    losses = [e["loss"] for e in history if "loss" in e]
    assert len(losses) >= 2 and losses[0] != losses[-1]
    assert (run_dir / "dpo" / "adapter_model.safetensors").is_file()
    # Only the trained policy is saved; the frozen reference copy is the sft adapter.
    assert not (run_dir / "dpo" / "ref").exists()
