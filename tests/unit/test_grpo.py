"""GRPO wiring on a tiny model: rewards receive dataset columns, prompts are ordered by reward variance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.config.load import load_recipe
from align.runner import run_recipe
from align.runtime.context import StageContext
from align.runtime.errors import AlignError
from align.stages.grpo.scoring import reward_metrics, score_groups, stage_rewards
from align.stages.grpo.selection import select_by_variance
from align.stages.grpo.stage import grpo_config
from reward import row_total


def test_variance_orders_and_drops_flat_groups():
    groups = [[1, 1, 1], [0, 1, 0.5], [0, 1, 1], [None, None, 1], [0, 0, 1]]
    selection = select_by_variance(groups)
    # variances: 0, 1/6, 2/9, unscored, 2/9 → ties keep dataset order
    assert selection.order == [2, 4, 1]
    assert selection.dropped_zero_variance == 1 and selection.dropped_unscored == 1
    assert select_by_variance(groups, keep=1).order == [2]


def test_row_total_is_the_trl_weighted_sum_over_present_rewards():
    assert row_total({"a": 1.0, "b": None}, {"a": 1, "b": 3}) == 1.0
    assert row_total({"a": 1.0, "b": 0.5}, {"a": 1, "b": 3}) == 2.5
    assert row_total({"a": None}, {"a": 1}) is None


def grpo_stage(**extra) -> dict:
    return {"name": "grpo", "kind": "grpo", "init": "sft", "prompts": "prompts.jsonl", **extra}


def recipe(tmp_path: Path, stages: list[dict]) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"stages": stages}))
    return path


@pytest.fixture
def prompts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "prompts.jsonl"
    rows = [{"prompt": f"What is {a} + 2?", "answer": str(a + 2)} for a in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_reward_halves_skip_steps_that_scored_no_row():
    # A mixed chat + constraint run logged correctness None (and TRL's nanmean gives NaN) on steps whose prompts
    # were all chat rows; the stage then crashed after training, before its manifest (issue #30's anchor run).
    history = [
        {"reward": 1.0, "rewards/correctness/mean": None},
        {"reward": 2.0, "rewards/correctness/mean": 0.25},
        {"reward": 3.0, "rewards/correctness/mean": float("nan")},
        {"reward": 4.0, "rewards/correctness/mean": 0.75},
        {"reward": 5.0, "rewards/correctness/mean": 0.5},
        {"train_runtime": 9.0},
    ]
    metrics = reward_metrics(history, ["correctness", "helpfulness"])
    assert metrics == {
        "reward_first_half": 1.5,
        "reward_second_half": 4.0,
        "correctness_first_half": 0.25,
        "correctness_second_half": 0.625,
    }


def test_math_rewards_see_the_answer_column(prompts_file: Path, tmp_path: Path, chat_file: Path):
    sft = {"name": "sft", "kind": "sft", "data": str(chat_file)}
    stage = load_recipe(recipe(tmp_path, [sft, grpo_stage(verifier="math")])).stages[1]
    rewards = stage_rewards(stage, None)
    assert [r.function.__name__ for r in rewards] == ["correctness"] and [r.weight for r in rewards] == [1.0]
    rows = [
        {"prompt": [{"role": "user", "content": "1+1?"}], "answer": "2"},
        {"prompt": [{"role": "user", "content": "2+2?"}], "answer": "4"},
    ]
    groups = [["The answer is \\boxed{2}.", "3"], ["4", "4"]]
    assert score_groups(rewards, rows, groups) == [[1.0, 0.0], [1.0, 1.0]]


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantage_scaling_reaches_trl(prompts_file: Path, tmp_path: Path, chat_file: Path, scale: str):
    sft = {"name": "sft", "kind": "sft", "data": str(chat_file)}
    recipe_ = load_recipe(recipe(tmp_path, [sft, grpo_stage(verifier="math", scale_rewards=scale)]))
    stage = recipe_.stages[1]
    ctx = StageContext(recipe_, stage, tmp_path / "run", "unused-model")
    assert grpo_config(stage, ctx, stage_rewards(stage, None)).scale_rewards == scale


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rewards": {"correctness": {"source": "verifier"}}}, "needs `verifier: <name>`"),
        ({"rewards": {"helpfulness": {"source": "model"}}}, "needs `reward: <reward stage>`"),
        ({"rewards": {"relevance": {"source": "rule"}}}, "exists for conciseness only"),
        ({"rewards": {"style": {"source": "rule"}}}, "unknown reward"),
        ({"verifier": "math", "rewards": {"correctness": {"weight": 0, "source": "verifier"}}}, "positive weight"),
    ],
)
def test_bad_reward_config_is_one_line(prompts_file: Path, tmp_path: Path, chat_file: Path, extra, message):
    sft = {"name": "sft", "kind": "sft", "data": str(chat_file)}
    with pytest.raises(AlignError, match=message):
        load_recipe(recipe(tmp_path, [sft, grpo_stage(**extra)]))


def test_grpo_runs_and_logs_completions(prompts_file: Path, tmp_path: Path, tiny_model: str, chat_file: Path):
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": tiny_model,
                "lora": {"r": 4, "alpha": 8},
                "stages": [
                    {
                        "name": "sft",
                        "kind": "sft",
                        "data": str(chat_file),
                        "max_steps": 1,
                        "batch_size": 2,
                        "max_length": 64,
                        "report_to": [],
                    },
                    grpo_stage(
                        rewards={"conciseness": {"source": "rule", "budget": 4}},
                        num_generations=4,
                        prompts_per_step=1,
                        max_completion_length=12,
                        max_steps=2,
                        log_completions_steps=1,
                        backend="hf",
                        report_to=["tensorboard"],
                    ),
                ],
            }
        )
    )
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(path), run_dir)
    stage_dir = run_dir / "grpo"
    selection = json.loads((stage_dir / "prompt_selection.json").read_text())
    kept = [selection["variances"][i] for i in selection["order"]]
    assert kept == sorted(kept, reverse=True) and all(v > 0 for v in kept)
    manifest = json.loads((stage_dir / "manifest.json").read_text())
    assert manifest["notes"]["prompt_selection"]["kept"] == len(selection["order"])
    assert "conciseness_first_half" in manifest["metrics"]
    rows = [json.loads(line) for line in (stage_dir / "completions.jsonl").read_text().splitlines()]
    assert rows and set(rows[0]["rewards"]) == {"conciseness"}
    assert all(0.0 <= r["total"] <= 1.0 for r in rows)
    assert list((run_dir / "tb" / "grpo" / "completions").glob("events.out.tfevents.*"))
