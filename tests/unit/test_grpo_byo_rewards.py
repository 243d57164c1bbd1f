"""GRPO with rewards from other sources: a hub classifier as a reward, and the recipe errors for hub/judge/reference
keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.config.load import load_recipe
from align.runner import run_recipe
from align.runtime.errors import AlignError


def write_recipe(tmp_path: Path, model: str, chat_file: Path, **grpo) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say something about {w}."}) + "\n" for w in ("tea", "rain")))
    sft = {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 1, "max_length": 64, "report_to": []}
    stage = {"name": "grpo", "kind": "grpo", "init": "sft", "prompts": str(prompts), "report_to": [], **grpo}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"model": model, "lora": {"r": 4, "alpha": 8}, "stages": [sft, stage]}))
    return path


@pytest.mark.parametrize(
    ("rewards", "message"),
    [
        ({"helpfulness": {"source": "hub"}}, "rewards.helpfulness: source 'hub' needs `model:"),
        ({"conciseness": {"source": "rule", "output": 1}}, "`output` is for source 'hub' only"),
        ({"helpfulness": {"source": "hub", "model": "x", "url": "http://h"}}, "`url` and `rubric` are for source"),
        ({"truthfulness": {"source": "judge", "column": "chosen"}}, "`column` is for source 'reference' only"),
    ],
)
def test_bad_byo_reward_config_is_one_line(tmp_path: Path, chat_file: Path, rewards: dict, message: str):
    with pytest.raises(AlignError, match=message):
        load_recipe(write_recipe(tmp_path, "unused-model", chat_file, rewards=rewards))


def one_grpo_step(tmp_path: Path, model: str, chat_file: Path, rewards: dict) -> list[dict]:
    """Run SFT then one GRPO step (two completions of one prompt) scored by `rewards`; the logged completions."""
    path = write_recipe(
        tmp_path,
        model,
        chat_file,
        rewards=rewards,
        num_generations=2,
        prompts_per_step=1,
        max_completion_length=6,
        max_steps=1,
        log_completions_steps=1,
        backend="hf",
        prompt_selection={"enabled": False},
    )
    outcome = run_recipe(load_recipe(path), tmp_path / "run")[-1]
    assert outcome.status == "ran" and outcome.metrics["steps"] == 1
    return [json.loads(line) for line in (tmp_path / "run" / "grpo" / "completions.jsonl").read_text().splitlines()]


def test_grpo_trains_on_a_hub_classifier_reward(tmp_path: Path, tiny_model: str, tiny_classifier: str, chat_file: Path):
    rewards = {"helpfulness": {"source": "hub", "model": tiny_classifier, "output": "helpfulness"}}
    scores = [r["rewards"]["helpfulness"] for r in one_grpo_step(tmp_path, tiny_model, chat_file, rewards)]
    # Raw classifier logits, not a [0, 1] verifier score or a missing one.
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)


def test_grpo_trains_on_an_endpoint_judge(tmp_path: Path, tiny_model: str, chat_file: Path, judge_server):
    rewards = {"helpfulness": {"source": "judge", "url": judge_server["url"], "model": "stand-in-judge"}}
    rows = one_grpo_step(tmp_path, tiny_model, chat_file, rewards)
    # The stand-in rates 1 + word count: every logged score is that rating mapped to [0, 1].
    for row in rows:
        words = len(row["completion"].split())
        assert row["rewards"]["helpfulness"] == pytest.approx((min(10, 1 + words) - 1) / 9)
    assert judge_server["requests"]


def test_code_grpo_rewards_run_the_tests_in_the_sandbox(tmp_path: Path, chat_file: Path):
    from align.data.load import load_prompts
    from align.stages.grpo.scoring import score_groups, stage_rewards

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "code.yaml")
    stage = next(s for s in recipe.stages if s.name == "grpo")
    rewards = stage_rewards(stage, None)
    rows = load_prompts(stage.prompts).select(range(2)).to_list()
    wrong = "```python\ndef f():\n    return None\n```"
    groups = [[row["solution"], wrong] for row in rows]
    assert score_groups(rewards, rows, groups) == [[1.0, 0.0], [1.0, 0.0]]
