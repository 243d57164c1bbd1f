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
