"""DAPO dynamic sampling: flat groups found from TRL's advantages, replaced by fresh groups with their padding
reconciled, counted per step; and a real GRPO run on a tiny model with it on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from align.config.load import load_recipe
from align.runner import run_recipe
from align.stages.grpo.dynamic import DynamicSampling, flat_groups, splice


def batch(advantages: list[float], prompt_width: int, completion_width: int, tag: int) -> dict:
    """A TRL-shaped generation batch whose every token id is `tag`, so where each row came from is visible."""
    rows = len(advantages)
    return {
        "prompt_ids": torch.full((rows, prompt_width), tag),
        "prompt_mask": torch.ones(rows, prompt_width, dtype=torch.long),
        "completion_ids": torch.full((rows, completion_width), tag),
        "completion_mask": torch.ones(rows, completion_width, dtype=torch.long),
        "advantages": torch.tensor(advantages),
        "num_items_in_batch": torch.tensor(rows * completion_width),
    }


def test_flat_groups_are_those_with_all_zero_advantages():
    assert flat_groups(torch.tensor([0.0, 0.0, 1.0, -1.0, 0.0, 0.0]), 2) == [0, 2]


def test_splice_replaces_groups_and_pads_prompts_left_completions_right():
    old = batch([0.0, 0.0, 1.0, -1.0], prompt_width=3, completion_width=2, tag=1)
    new = batch([0.5, -0.5], prompt_width=5, completion_width=4, tag=2)
    out = splice(old, new, slots=[0], size=2)
    assert out["advantages"].tolist() == [0.5, -0.5, 1.0, -1.0]
    assert out["prompt_ids"].tolist()[0] == [2] * 5 and out["prompt_ids"].tolist()[2] == [0, 0, 1, 1, 1]
    assert out["prompt_mask"].tolist()[2] == [0, 0, 1, 1, 1]
    assert out["completion_ids"].tolist()[2] == [1, 1, 0, 0] and out["completion_mask"].tolist()[2] == [1, 1, 0, 0]
    assert out["num_items_in_batch"].item() == 2 * 4 + 2 * 2


def test_fill_replaces_flat_groups_from_the_pool_and_counts():
    pool = [{"prompt": f"p{i}"} for i in range(4)]
    sampling = DynamicSampling(pool, group_size=2, max_rounds=2, seed=0)
    asked: list[list[str]] = []
    answers = iter([[0.0, 0.0, 0.3, -0.3], [0.0, 0.0]])  # round 1: one of two fresh groups varies; round 2: flat

    def generate(inputs):
        asked.append([row["prompt"] for row in inputs])
        advantages = next(answers)
        return batch(advantages, 2, 3, tag=len(asked) + 1)

    start = batch([0.0, 0.0, 1.0, -1.0, 0.0, 0.0], 2, 3, tag=1)
    out, counts = sampling.fill(start, generate)
    assert counts == {"flat_groups": 2, "replaced_groups": 1, "resampled_groups": 3}
    assert [len(a) for a in asked] == [4, 2]  # two flat groups resampled, then the one still flat
    assert all(a[i] == a[i + 1] for a in asked for i in range(0, len(a), 2))  # one prompt per group
    assert out["advantages"].tolist() == pytest.approx([0.3, -0.3, 1.0, -1.0, 0.0, 0.0])
    assert out["completion_ids"][0].tolist() == [2, 2, 2]  # the fresh group took the first flat slot


def test_grpo_with_dynamic_sampling_logs_counts_per_step(tmp_path: Path, tiny_model: str, chat_file: Path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"What is {a} + 2?", "answer": "99"}) + "\n" for a in range(4)))
    sft = {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 1, "max_length": 64, "report_to": []}
    grpo = {
        "name": "grpo", "kind": "grpo", "init": "sft", "prompts": str(prompts), "verifier": "math",
        "num_generations": 2, "prompts_per_step": 1, "max_completion_length": 4, "max_steps": 2, "logging_steps": 1,
        "backend": "hf", "report_to": [], "prompt_selection": {"enabled": False},
        "dynamic_sampling": {"enabled": True, "max_rounds": 2},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"model": tiny_model, "lora": {"r": 4, "alpha": 8}, "stages": [sft, grpo]}))
    run_recipe(load_recipe(path), tmp_path / "run")
    history = json.loads((tmp_path / "run" / "grpo" / "log_history.json").read_text())
    logged = [e for e in history if "dynamic_sampling/flat_groups" in e]
    # A random model never answers 99: every group is flat, is resampled twice, and nothing can replace it.
    assert len(logged) == 2
    assert all(e["dynamic_sampling/flat_groups"] == 1 and e["dynamic_sampling/resampled_groups"] == 2 for e in logged)
    assert all(e["dynamic_sampling/replaced_groups"] == 0 for e in logged)
