"""The reward stage scores its trained model on probe pairs (hand-written, unlike the training templates) with
the same pairwise accuracy as the held-out pairs, and stores it in the stage's manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.artifacts.contract import read_manifest
from align.config.load import load_recipe
from align.runner import run_recipe
from reward import DIMENSIONS, RewardModel
from reward.model.rows import parse_rows
from reward.model.train import evaluate, probe_metrics


def pairs(prompt: str, chosen: str, rejected: str, count: int) -> list[dict[str, str]]:
    return [
        {"prompt": f"{prompt} ({n})", "chosen": chosen, "rejected": rejected, "dimension": d}
        for n in range(count)
        for d in DIMENSIONS
    ]


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def reward_recipe(tmp_path: Path, tiny_model: str, tiny_bert_path: Path, **extra: object) -> Path:
    train = write_jsonl(tmp_path / "train.jsonl", pairs("Capital of France?", "Paris.", "Rome, I think.", 2))
    stage = {
        "name": "reward", "kind": "reward", "backbone": str(tiny_bert_path), "data": str(train), "likelihood": [],
        "max_steps": 2, "batch_size": 6, "max_length": 32, "report_to": [], **extra,
    }  # fmt: skip
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"model": tiny_model, "stages": [stage]}))
    return recipe


def test_reward_stage_stores_probe_accuracy_computed_like_held_out_accuracy(
    tmp_path: Path, tiny_bert_path: Path, tiny_model: str
):
    probe_rows = pairs("Which is the largest planet", "Jupiter.", "Mars is, by far.", 2)
    probe = write_jsonl(tmp_path / "probe.jsonl", probe_rows)
    recipe = reward_recipe(tmp_path, tiny_model, tiny_bert_path, probe_data=str(probe))
    outcome = run_recipe(load_recipe(recipe), tmp_path / "run")[-1]
    assert outcome.status == "ran"
    stored = read_manifest(tmp_path / "run" / "reward").metrics
    # The saved model, scored again on the probe pairs by the held-out evaluation, gives the stored numbers.
    saved = RewardModel.load(tmp_path / "run" / "reward")
    again = probe_metrics(evaluate(saved, parse_rows(probe_rows, DIMENSIONS), batch_size=32))
    for d in DIMENSIONS:
        assert stored[f"probe_pairs/{d}"] == 2
        assert stored[f"probe_accuracy/{d}"] == pytest.approx(again[f"probe_accuracy/{d}"])
        assert stored[f"probe_accuracy/{d}"] in (0.0, 0.5, 1.0)  # two pairs per dimension
    assert stored["probe_loss"] == pytest.approx(again["probe_loss"], rel=1e-4)
    assert "accuracy/mean" not in stored  # no eval_data: no held-out accuracy under the probe's name


def test_probe_metrics_rename_every_held_out_key():
    held_out = {"accuracy/truthfulness": 0.5, "accuracy/mean": 0.5, "eval_pairs/truthfulness": 2.0, "eval/loss": 0.7}
    assert probe_metrics(held_out) == {
        "probe_accuracy/truthfulness": 0.5,
        "probe_accuracy/mean": 0.5,
        "probe_pairs/truthfulness": 2.0,
        "probe_loss": 0.7,
    }
    assert probe_metrics({}) == {}


def test_probe_data_defaults_to_the_shipped_probe_and_null_turns_it_off(
    tmp_path: Path, tiny_bert_path: Path, tiny_model: str
):
    recipe = reward_recipe(tmp_path, tiny_model, tiny_bert_path)
    stage = load_recipe(recipe).stages[0]
    assert stage.probe_data is not None and stage.probe_data.path.endswith("data/reward/probe.jsonl")
    assert Path(stage.probe_data.path).is_file()
    assert load_recipe(recipe, ["stages.reward.probe_data=null"]).stages[0].probe_data is None


def test_a_bad_probe_row_is_one_error_line(tmp_path: Path, tiny_bert_path: Path, tiny_model: str, capsys):
    from align.cli import main

    probe = write_jsonl(tmp_path / "probe.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b", "dimension": "x"}])
    recipe = reward_recipe(tmp_path, tiny_model, tiny_bert_path, probe_data=str(probe))
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the run's own log lines
    assert last.startswith("error: stages.reward: probe_rows row 0: 'dimension' must be one of")


def test_a_run_that_trains_no_policy_skips_the_recipe_evaluation(tmp_path: Path, tiny_bert_path: Path, tiny_model: str):
    """`align run recipes/chat.yaml --stages reward` (a reward model alone, say to read its probe accuracy) ends
    with exit 0: the recipe's evaluation has no policy to evaluate yet, which is not an error of the run."""
    from align.cli import main

    probe = write_jsonl(tmp_path / "probe.jsonl", pairs("Which is the largest planet", "Jupiter.", "Mars.", 1))
    recipe = reward_recipe(tmp_path, tiny_model, tiny_bert_path, probe_data=str(probe))
    recipe.write_text(yaml.safe_dump(yaml.safe_load(recipe.read_text()) | {"eval": {"suites": ["chat"], "limit": 2}}))
    run_dir = tmp_path / "run"
    assert main(["run", str(recipe), "--run-dir", str(run_dir)]) == 0
    assert read_manifest(run_dir / "reward").metrics["probe_pairs/truthfulness"] == 1
    assert not (run_dir / "eval.json").exists()
    assert "evaluation skipped: no finished sft, dpo or grpo stage" in (run_dir / "align.log").read_text()
