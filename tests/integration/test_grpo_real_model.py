"""GRPO on the real default model: a verifier, a length rule and a trained reward-model head, each logged per step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from align.config.load import load_recipe
from align.runner import run_recipe
from reward.verifiers.math import verify_math

pytestmark = pytest.mark.integration

REWARD_DATA = Path(__file__).resolve().parents[2] / "data" / "reward"
# One-digit sums the model mostly gets right, two-digit ones it often gets wrong: groups with both.
CASES = [(3, 4), (17, 26), (2, 5), (38, 47), (6, 2), (29, 56), (45, 38), (8, 9)]
STEPS = 3


def test_grpo_on_the_default_model(builtin_model: str, chat_file: Path, tmp_path: Path):
    prompts = tmp_path / "prompts.jsonl"
    answers = {f"What is {a} + {b}?": str(a + b) for a, b in CASES}
    prompts.write_text("".join(json.dumps({"prompt": p, "answer": a}) + "\n" for p, a in answers.items()))
    recipe_path = tmp_path / "grpo.yaml"
    stages = [
        {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 2, "batch_size": 4, "report_to": []},
        {
            "name": "reward",
            "kind": "reward",
            "backbone": "minilm",
            "data": str(REWARD_DATA / "train.jsonl"),
            "eval_data": str(REWARD_DATA / "probe.jsonl"),
            "max_steps": 3,
            "batch_size": 8,
            "max_length": 96,
            "report_to": [],
        },
        {
            "name": "grpo",
            "kind": "grpo",
            "init": "sft",
            "reward": "reward",
            "prompts": str(prompts),
            "verifier": "math",
            "rewards": {
                "correctness": {"weight": 1.0, "source": "verifier"},
                "conciseness": {"weight": 0.2, "source": "rule", "budget": 12},
                "relevance": {"weight": 0.1, "source": "model"},
            },
            "prompt_selection": {"num_generations": 4},
            "num_generations": 4,
            "prompts_per_step": 2,
            "max_completion_length": 24,
            "temperature": 1.0,
            "learning_rate": 1e-4,
            "max_steps": STEPS,
            "logging_steps": 1,
            "log_completions_steps": 1,
            "backend": "hf",
            "report_to": [],
        },
    ]
    recipe_path.write_text(yaml.safe_dump({"stages": stages}))
    run_dir = tmp_path / "run"
    outcomes = run_recipe(load_recipe(recipe_path), run_dir)
    assert [o.status for o in outcomes] == ["ran", "ran", "ran"]
    stage_dir = run_dir / "grpo"

    selection = json.loads((stage_dir / "prompt_selection.json").read_text())
    assert selection["candidates"] == len(CASES)
    kept = [selection["variances"][i] for i in selection["order"]]
    assert kept and kept == sorted(kept, reverse=True) and min(kept) > 0

    # Every reward is its own logged series, mean and std, at every step.
    history = json.loads((stage_dir / "log_history.json").read_text())
    for name in ("correctness", "conciseness", "relevance"):
        assert len([e for e in history if f"rewards/{name}/mean" in e]) == STEPS
        assert len([e for e in history if f"rewards/{name}/std" in e]) == STEPS

    # The answer column reached the verifier: the logged correctness is what the verifier says of that text.
    rows = [json.loads(line) for line in (stage_dir / "completions.jsonl").read_text().splitlines()]
    assert len(rows) == STEPS * 2 * 4
    for row in rows:
        expected = verify_math(row["completion"], answers[row["prompt"]]).score
        assert row["rewards"]["correctness"] == expected
        assert 0.0 <= row["rewards"]["conciseness"] <= 1.0
        assert isinstance(row["rewards"]["relevance"], float)
    assert len({r["rewards"]["relevance"] for r in rows}) > 1  # the reward model tells completions apart

    manifest = json.loads((stage_dir / "manifest.json").read_text())
    assert manifest["metrics"]["steps"] == STEPS and manifest["metrics"]["rollout_backend"] == "hf"
    assert manifest["notes"]["prompt_selection"]["kept"] == len(selection["order"])
    # The policy moved away from the SFT adapter it started from.
    before = load_file(run_dir / "sft" / "adapter_model.safetensors")
    after = load_file(stage_dir / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
