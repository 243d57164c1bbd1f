"""A GRPO stage rewarded by reference-guided likelihood: the prompts must ship the reference column on some row
(`align validate` says which file and column when none does), a row without it scores None without counting as a
reward failure, and a short real run scores the rows that carry it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from align.cli import main
from align.config.load import load_recipe
from align.data.prompt_sources import load_stage_prompts
from align.runner import run_recipe
from align.runtime.errors import AlignError
from tests.unit.test_prompt_sources import recipe_file as sources_recipe
from tests.unit.test_prompt_sources import write_rows

REWARDS = {
    "truthfulness": {"source": "reference", "column": "chosen"},
    "conciseness": {"source": "rule", "weight": 0.5, "budget": 2},
}
WITH_REFERENCE = [
    {"prompt": "Is the Sun a planet?", "chosen": "No. The Sun is a star."},
    {"prompt": "Is water wet?", "chosen": "Yes, water is wet."},
    {"prompt": "Are tuples mutable in Python?", "chosen": "No, tuples are immutable."},
]
WITHOUT = [{"prompt": "Say something about tea."}]


def recipe_file(folder: Path, prompts, model: str | None = None, **grpo) -> Path:
    return sources_recipe(folder, prompts, model, verifier=None, rewards=REWARDS, **grpo)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name, rows in (("plain.jsonl", WITHOUT), ("referenced.jsonl", WITH_REFERENCE)):
        write_rows(tmp_path / name, rows)
    return tmp_path


def test_prompts_with_the_reference_column_on_no_row_fail_validation_in_one_line(folder: Path, capsys):
    recipe = recipe_file(folder, "plain.jsonl")
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "stages.grpo.rewards.truthfulness: source 'reference'" in err
    assert "'chosen' column" in err and "plain.jsonl" in err
    # The stage checks again when it loads its prompts (a hub source is checked only then).
    with pytest.raises(AlignError, match="'chosen' column, and no row of"):
        load_stage_prompts(load_recipe(recipe).stages[0])


def test_one_source_with_the_reference_column_is_enough(folder: Path, capsys):
    assert main(["validate", str(recipe_file(folder, ["plain.jsonl", "referenced.jsonl"]))]) == 0
    mixed = write_rows(folder / "mixed.jsonl", [*WITHOUT, *WITH_REFERENCE[:1]])  # rows without it score None
    assert main(["validate", str(recipe_file(folder, str(mixed)))]) == 0


def test_grpo_scores_the_rows_with_a_reference_and_counts_no_failure_for_the_row_without(folder: Path, tiny_model: str):
    """Without prompt selection TRL shuffles the prompts: two steps of two are one pass over all four rows."""
    prompts = write_rows(folder / "prompts.jsonl", [*WITH_REFERENCE, *WITHOUT])
    short_run = {"num_generations": 2, "prompts_per_step": 2, "max_completion_length": 8, "max_steps": 2}
    logged = {"log_completions_steps": 1, "report_to": []}
    recipe = recipe_file(
        folder, str(prompts), model=tiny_model, prompt_selection={"enabled": False}, backend="hf", **short_run, **logged
    )
    outcome = run_recipe(load_recipe(recipe), folder / "run")[-1]
    assert outcome.status == "ran" and outcome.metrics["steps"] == 2
    stage_dir = folder / "run" / "grpo"
    rows = [json.loads(line) for line in (stage_dir / "completions.jsonl").read_text().splitlines()]
    assert {r["prompt"] for r in rows} == {p["prompt"] for p in [*WITH_REFERENCE, *WITHOUT]}
    for row in rows:
        truthfulness = row["rewards"]["truthfulness"]
        if row["prompt"] == WITHOUT[0]["prompt"]:
            assert truthfulness is None
        else:
            assert isinstance(truthfulness, float) and math.isfinite(truthfulness)
    metrics = json.loads((stage_dir / "manifest.json").read_text())["metrics"]
    # The reference-less row's None is by design, not a failure.
    assert metrics["reward_failures"] == {}
    assert metrics["nonfinite_steps_skipped"] == 0 and math.isfinite(metrics["train_loss"])
