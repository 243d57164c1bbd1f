"""Every bad recipe ends in one line naming the key and the problem, and `align validate` exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from align.cli import main
from align.config.load import load_recipe
from align.runtime.errors import AlignError


def write(tmp_path: Path, recipe: dict | str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(recipe if isinstance(recipe, str) else yaml.safe_dump(recipe))
    return path


def sft(name: str = "sft", data: str = "chat.jsonl", **extra) -> dict:
    return {"name": name, "kind": "sft", "data": data, **extra}


@pytest.fixture
def in_tmp(tmp_path: Path, chat_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


BAD_RECIPES = [
    ("unknown top key", {"stages": [sft()], "modle": "x"}, "modle: unknown key"),
    ("unknown stage key", {"stages": [sft(learnig_rate=1e-4)]}, "stages.sft.learnig_rate: unknown key"),
    ("wrong type", {"stages": [sft(batch_size="four")]}, "stages.sft.batch_size:"),
    (
        "bad value",
        {"stages": [sft(learning_rate=-1)]},
        "stages.sft.learning_rate: Input should be greater than 0",
    ),
    ("lora bad value", {"lora": {"r": 0}, "stages": [sft()]}, "lora.r: Input should be greater than 0"),
    ("missing kind", {"stages": [{"name": "a", "data": "chat.jsonl"}]}, "stages.a: missing 'kind'"),
    ("unknown kind", {"stages": [{"name": "a", "kind": "ppo"}]}, "stages.a: unknown stage kind 'ppo'"),
    ("missing required", {"stages": [{"name": "a", "kind": "sft"}]}, "stages.a.data: missing required key"),
    ("no stages", {"model": "smollm2-135m-instruct"}, "stages: missing required key"),
    ("empty stages", {"stages": []}, "stages: List should have at least 1 item"),
    ("duplicate name", {"stages": [sft(), sft()]}, "stages.sft.name: duplicate stage name"),
    (
        "reference to missing stage",
        {"stages": [sft(init="nope")]},
        "stages.sft.init: 'nope' is not an earlier stage (none), an adapter folder or a hub adapter name (owner/name)",
    ),
    (
        "reference to later stage",
        {"stages": [sft("a", init="b"), sft("b")]},
        "stages.a.init: 'b' is a later stage",
    ),
    (
        "reference to wrong kind",
        {
            "stages": [
                sft(),
                {"name": "p", "kind": "pairs", "init": "sft", "prompts": "chat.jsonl", "verifier": "math"},
                {"name": "d", "kind": "dpo", "init": "sft", "pairs": "sft"},
            ]
        },
        "stages.d.pairs: 'sft' is a sft stage; expected pairs",
    ),
    (
        "missing data file",
        {"stages": [sft(data="missing.jsonl")]},
        "stages.sft.data.path: file not found: missing.jsonl",
    ),
    (
        "missing preference file (a str | DataSpec union)",
        {"stages": [{"name": "d", "kind": "dpo", "pairs": "prefs.jsonl"}]},
        "stages.d.pairs.path: file not found: prefs.jsonl",
    ),
    (
        "missing model folder",
        {"model": "./no-such-model", "stages": [sft()]},
        "model: model folder not found",
    ),
    (
        "bad stage name",
        {"stages": [sft(name="has space")]},
        "stages.has space.name: String should match pattern",
    ),
    (
        "unknown likelihood dimension",
        {"stages": [{"name": "rm", "kind": "reward", "data": "chat.jsonl", "likelihood": ["honesty"]}]},
        "stages.rm.likelihood: unknown dimension 'honesty'",
    ),
    (
        "unknown pmi dimension",
        {"stages": [{"name": "rm", "kind": "reward", "data": "chat.jsonl", "pmi": ["topicality"]}]},
        "stages.rm.pmi: unknown dimension 'topicality'",
    ),
    (
        "dimension scored by likelihood and pmi",
        {"stages": [{"name": "rm", "kind": "reward", "data": "chat.jsonl", "pmi": ["relevance", "truthfulness"]}]},
        "pmi: 'truthfulness' is in likelihood too",
    ),
]


@pytest.mark.parametrize(("case", "recipe", "expected"), BAD_RECIPES, ids=[c[0] for c in BAD_RECIPES])
def test_bad_recipe_is_one_line_naming_the_key(in_tmp: Path, case: str, recipe: dict, expected: str, capsys):
    path = write(in_tmp, recipe)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert err.startswith("error: "), err
    assert expected in err, err
    assert "Traceback" not in err


def test_invalid_yaml_names_the_line(in_tmp: Path, capsys):
    path = write(in_tmp, "stages:\n  - name: a\n    kind: [sft\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "r.yaml:" in err and "invalid YAML" in err


def test_missing_recipe_file(in_tmp: Path, capsys):
    assert main(["validate", "nope.yaml"]) == 2
    assert "nope.yaml: no such recipe file" in capsys.readouterr().err


def test_valid_recipe_resolves_data_path_and_defaults(in_tmp: Path, chat_file: Path):
    recipe = load_recipe(write(in_tmp, {"stages": [sft()]}))
    assert recipe.name == "r"
    assert recipe.model == "smollm2-135m-instruct"
    assert recipe.stages[0].data.path == str(chat_file.resolve())
    assert recipe.stages[0].max_length == 8192
    assert recipe.lora.r == 16


def test_data_path_found_relative_to_recipe_folder(tmp_path: Path, chat_file: Path, monkeypatch):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "local.jsonl").write_text(chat_file.read_text())
    monkeypatch.chdir("/")
    recipe = load_recipe(write(recipes, {"stages": [sft(data="local.jsonl")]}))
    assert recipe.stages[0].data.path == str((recipes / "local.jsonl").resolve())


def test_hub_dataset_name_is_kept_as_a_name(in_tmp: Path):
    recipe = load_recipe(write(in_tmp, {"stages": [sft(data={"path": "openai/gsm8k", "subset": "main"})]}))
    assert recipe.stages[0].data.path == "openai/gsm8k"


def test_recipe_is_frozen(in_tmp: Path):
    recipe = load_recipe(write(in_tmp, {"stages": [sft()]}))
    with pytest.raises(Exception, match="frozen"):
        recipe.stages[0].learning_rate = 1.0  # type: ignore[misc]


class TestOverrides:
    def test_set_stage_field_by_name(self, in_tmp: Path):
        recipe = load_recipe(write(in_tmp, {"stages": [sft()]}), ["stages.sft.learning_rate=1e-4"])
        assert recipe.stages[0].learning_rate == pytest.approx(1e-4)

    def test_set_model_and_nested_lora(self, in_tmp: Path):
        recipe = load_recipe(write(in_tmp, {"stages": [sft()]}), ["model=Qwen/Qwen2.5-7B-Instruct", "lora.r=64"])
        assert recipe.model == "Qwen/Qwen2.5-7B-Instruct"
        assert recipe.lora.r == 64

    def test_set_by_index_and_list_value(self, in_tmp: Path):
        recipe = load_recipe(write(in_tmp, {"stages": [sft()]}), ["stages.0.report_to=[]"])
        assert recipe.stages[0].report_to == []

    def test_override_is_validated_like_the_file(self, in_tmp: Path):
        with pytest.raises(AlignError, match=r"stages\.sft\.epochs: Input should be greater than 0"):
            load_recipe(write(in_tmp, {"stages": [sft()]}), ["stages.sft.epochs=0"])

    def test_unknown_override_key_is_rejected(self, in_tmp: Path):
        with pytest.raises(AlignError, match=r"stages\.sft\.lr: unknown key"):
            load_recipe(write(in_tmp, {"stages": [sft()]}), ["stages.sft.lr=1"])

    def test_override_naming_a_missing_stage(self, in_tmp: Path):
        with pytest.raises(AlignError, match=r"no stage 'dpo'.*stages: sft"):
            load_recipe(write(in_tmp, {"stages": [sft()]}), ["stages.dpo.beta=0.1"])

    def test_override_without_equals(self, in_tmp: Path):
        with pytest.raises(AlignError, match="expected KEY=VALUE"):
            load_recipe(write(in_tmp, {"stages": [sft()]}), ["stages.sft.learning_rate"])


def test_bad_cli_arguments_are_one_line(capsys):
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


def test_stages_lists_every_kind_with_descriptions(capsys):
    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    for kind in ("sft", "pairs", "dpo", "reward", "grpo"):
        assert f"kind: {kind}" in out
    assert "learning_rate" in out and "Peak" in out
