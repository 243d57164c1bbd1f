"""Every YAML under recipes/ (searched recursively) validates against its schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from align.config.load import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
ALL_YAML = sorted(RECIPES.rglob("*.yaml")) + sorted(RECIPES.rglob("*.yml"))
ACCELERATE = [p for p in ALL_YAML if "accelerate" in p.relative_to(RECIPES).parts]
ALIGN_RECIPES = [p for p in ALL_YAML if p not in ACCELERATE]


def test_recipes_exist():
    names = {p.name for p in ALIGN_RECIPES}
    assert {"demo.yaml", "math.yaml"} <= names


@pytest.mark.parametrize("path", ALIGN_RECIPES, ids=lambda p: str(p.relative_to(RECIPES)))
def test_recipe_validates_and_runs_offline_by_default(path: Path):
    recipe = load_recipe(path)
    assert recipe.model == "smollm2-135m-instruct", "shipped recipes must run offline as shipped"


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: str(p.relative_to(RECIPES)))
def test_accelerate_config_loads(path: Path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert config.num_processes == yaml.safe_load(path.read_text())["num_processes"]


def grpo_stage(name: str):
    return next(s for s in load_recipe(RECIPES / name).stages if s.kind == "grpo")


@pytest.mark.parametrize("name", ["demo.yaml", "math.yaml"])
def test_math_grpo_scores_all_six_dimensions_with_the_verifier_leading(name: str):
    """A newcomer sees every dimension of the six-dimension reward logged; on math the answer check leads."""
    from reward import DIMENSIONS

    stage = grpo_stage(name)
    assert set(stage.rewards) == set(DIMENSIONS)
    truth = stage.rewards["truthfulness"]
    assert truth.source == "verifier" and stage.verifier == "math"
    assert all(truth.weight > spec.weight for n, spec in stage.rewards.items() if n != "truthfulness")
    heads = [n for n, spec in stage.rewards.items() if spec.source == "model"]
    reward_stage = next(s for s in load_recipe(RECIPES / name).stages if s.name == stage.reward)
    assert heads and reward_stage.kind == "reward"


def test_demo_grpo_trains_on_distinct_prompts():
    """Ten steps on 4 prompts repeated taught the demo's policy to subtract; each step needs fresh prompts."""
    stage = grpo_stage("demo.yaml")
    kept = stage.prompt_selection.keep or stage.prompt_selection.candidates
    assert kept is not None and kept >= stage.max_steps * stage.prompts_per_step


def test_demo_evaluates_every_stage_on_held_out_problems():
    spec = load_recipe(RECIPES / "demo.yaml").eval
    assert spec is not None and "math_ood" in spec.suites
