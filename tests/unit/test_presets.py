"""Presets applied to every shipped recipe, `align presets`, the memory refusal, and 4-bit refused on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from align.cli import main
from align.config.load import load_recipe
from align.config.presets import PRESETS
from align.config.schema import PairsStage, Recipe
from align.generation.backend import HFSampler
from align.memory.check import check_fit, describe_offline
from align.memory.estimate import GIB, Estimate
from align.memory.presets import preset_memory
from align.runtime.errors import AlignError

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_preset_validates_on_every_shipped_recipe(name: str, path: Path):
    preset = PRESETS[name]
    raw = yaml.safe_load(path.read_text())
    recipe = load_recipe(path, preset=name)
    assert recipe.preset == name and recipe.model == preset.model
    assert recipe.lora.r == preset.lora["r"] and recipe.lora.quantize == preset.lora.get("quantize")
    for stage, written in zip(recipe.stages, raw["stages"], strict=True):
        for key, value in preset.stages.get(stage.kind, {}).items():
            # A key the recipe sets itself wins; the preset fills the others.
            assert getattr(stage, key) == written.get(key, value)


def test_set_overrides_win_over_the_preset():
    recipe = load_recipe(RECIPES[0], ["lora.r=8", "model=./"], preset="qwen2.5-7b")
    assert recipe.lora.r == 8 and recipe.model == str(Path("./").resolve())


def test_preset_key_in_a_recipe_file(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"preset": "qwen2.5-32b", "stages": [{"name": "s", "kind": "sft", "data": "x"}]}))
    recipe = load_recipe(path)
    assert recipe.model == "Qwen/Qwen2.5-32B-Instruct" and recipe.lora.quantize == "4bit"
    assert recipe.stages[0].max_length == 8192 and recipe.stages[0].grad_accum == 16


def test_unknown_preset_is_one_line_exit_2(capsys):
    assert main(["validate", str(RECIPES[0]), "--preset", "qwen9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: preset: unknown preset 'qwen9'") and "\n" not in err


def test_large_presets_load_in_4bit_and_every_preset_fits_80gb():
    for name, preset in PRESETS.items():
        assert (preset.lora.get("quantize") == "4bit") == (name in ("qwen2.5-32b", "qwen2.5-72b", "qwen3-32b"))
        need = preset_memory(preset)
        assert max(need.values()) < 80e9 - GIB, (name, need)
    # Without 4-bit, 72B's bf16 weights alone would not fit one 80 GB card.
    assert PRESETS["qwen2.5-72b"].shape.params() * 2 > 80e9


def test_presets_command_lists_each_with_memory(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name, preset in PRESETS.items():
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert preset.model in line
        sft_gib = float(line.split()[2])
        assert sft_gib == pytest.approx(preset_memory(preset)["sft"] / GIB, abs=0.051)


def test_refusal_names_the_stage_the_parts_and_force():
    estimate = Estimate({"weights": 60 * GIB, "activations": 30 * GIB})
    with pytest.raises(AlignError) as err:
        check_fit(estimate, free_bytes=79 * GIB, stage="sft", device="cuda:0")
    message = str(err.value)
    assert message.startswith("stages.sft: needs ~90.0 GiB") and "weights 60.00" in message
    assert "79.0 GiB free" in message and "--force" in message and "\n" not in message
    check_fit(estimate, free_bytes=92 * GIB, stage="sft", device="cuda:0")  # fits with the 1 GiB margin


def test_4bit_on_a_machine_without_gpu_is_refused_before_loading(tmp_path: Path, tiny_model: str, chat_file, capsys):
    path = tmp_path / "q.yaml"
    stage = {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 1, "report_to": []}
    path.write_text(yaml.safe_dump({"model": tiny_model, "lora": {"quantize": "4bit"}, "stages": [stage]}))
    assert main(["run", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: lora.quantize: '4bit' needs a CUDA GPU")
    assert not (tmp_path / "run" / "sft").exists()


def test_sample_batch_reaches_the_hf_sampler(tiny_model: str):
    # The 14B+ presets lower sample_batch so the KV cache of a sampling batch fits; the key must reach HF generate.
    from align.generation.recipe_sampler import recipe_sampler

    stage = {"name": "p", "kind": "pairs", "init": "s", "prompts": "p.jsonl", "verifier": "math", "sample_batch": 8}
    pre = {"name": "s", "kind": "sft", "data": "x.jsonl"}
    recipe = Recipe.model_validate({"name": "r", "model": tiny_model, "stages": [pre, stage]})
    pairs = recipe.stages[1]
    assert isinstance(pairs, PairsStage)
    sampler = recipe_sampler(recipe, "hf", tiny_model, "fp32", None, [], 8, pairs.sample_batch)
    assert isinstance(sampler, HFSampler) and sampler.batch_size == 8
    assert PRESETS["qwen2.5-72b"].stages["pairs"]["sample_batch"] == 32


def test_parameter_lora_with_dropout_is_a_one_line_recipe_error(tmp_path: Path, capsys):
    # PEFT refuses dropout on target_parameters only once the model is loaded; the recipe says so before.
    path = tmp_path / "moe.yaml"
    lora = {"dropout": 0.05, "target_parameters": ["mlp.experts.gate_up_proj"]}
    path.write_text(yaml.safe_dump({"lora": lora, "stages": [{"name": "s", "kind": "sft", "data": "x.jsonl"}]}))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "lora" in err and "dropout: 0" in err and "\n" not in err
    assert all(p.lora.get("dropout") == 0.0 for p in PRESETS.values() if p.lora.get("target_parameters"))


def validate_lines(capsys, *argv: str) -> list[str]:
    assert main(["validate", str(RECIPES_DIR / "math.yaml"), *argv]) == 0
    return capsys.readouterr().out.splitlines()


RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"


def test_validate_says_what_makes_a_stage_fit_and_each_suggestion_does(capsys):
    argv = ["--preset", "qwen2.5-14b", "--set", "stages.sft.max_length=32768", "--set", "stages.pairs.sample_batch=256"]
    lines = validate_lines(capsys, *argv)
    sft = next(i for i, line in enumerate(lines) if line.startswith("  sft: "))
    assert "more than an 80 GB GPU holds" in lines[sft] and "any one of these fits" in lines[sft]
    suggested = [line.split()[1] for line in lines if line.startswith("      --set ")]
    assert "stages.sft.max_length=4096" in suggested and "stages.pairs.sample_batch=128" in suggested
    assert "lora.quantize=4bit" in suggested
    overrides = [a for a in argv if a.startswith("stages.")]
    for fix in suggested:  # each suggestion alone makes its stage fit, as the estimate it printed says
        stage = fix.split(".")[1] if fix.startswith("stages.") else None
        recipe = load_recipe(RECIPES_DIR / "math.yaml", [*overrides, fix], preset="qwen2.5-14b")
        rows = {row.name: row for row in describe_offline(recipe) or []}
        assert all(rows[name].fits for name in ([stage] if stage else ["pairs"])), fix
    dpo = next(line for line in lines if line.startswith("  dpo: "))
    assert "GPU holds" not in dpo  # a stage that fits gets its estimate only


def test_validate_offers_gradient_checkpointing_and_says_when_nothing_single_fits(capsys):
    lines = validate_lines(
        capsys, "--preset", "qwen2.5-7b", "--set", "stages.sft.gradient_checkpointing=false", "--set",
        "stages.sft.batch_size=1", "--set", "stages.sft.max_length=16384",
    )  # fmt: skip
    assert any(line.split()[1:2] == ["stages.sft.gradient_checkpointing=true"] for line in lines if "--set" in line)
    lines = validate_lines(
        capsys, "--preset", "qwen2.5-72b", "--set", "lora.quantize=null", "--set", "stages.sft.max_length=8192"
    )
    sft = next(line for line in lines if line.startswith("  sft: "))
    assert "no single change fits; combine them or pick a smaller preset" in sft
