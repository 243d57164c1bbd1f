"""The stage chain on a tiny random model: artifacts, manifest, skip, re-run on change, resume, selection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from align.artifacts.contract import MANIFEST, MARKER, RUNNING, fingerprint
from align.config.load import load_recipe
from align.runner import input_digests, model_identity, run_recipe, stage_fingerprint
from align.runtime.errors import AlignError


def sft_stage(name: str, data: Path, **extra) -> dict:
    base = {"name": name, "kind": "sft", "data": str(data), "max_steps": 2, "batch_size": 2, "max_length": 64}
    return {**base, "report_to": [], **extra}


@pytest.fixture
def recipe_file(tmp_path: Path, tiny_model: str, chat_file: Path) -> Path:
    path = tmp_path / "chain.yaml"
    recipe = {
        "model": tiny_model,
        "lora": {"r": 4, "alpha": 8},
        "stages": [sft_stage("first", chat_file), sft_stage("second", chat_file, init="first")],
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


def statuses(outcomes) -> dict[str, str]:
    return {o.name: o.status for o in outcomes}


def test_chain_writes_artifacts_and_skips_when_unchanged(recipe_file: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    outcomes = run_recipe(load_recipe(recipe_file), run_dir)
    assert statuses(outcomes) == {"first": "ran", "second": "ran"}
    for name in ("first", "second"):
        folder = run_dir / name
        assert (folder / "adapter_model.safetensors").is_file()
        assert (folder / "adapter_config.json").is_file()
        assert (folder / "tokenizer.json").is_file()
        assert (folder / MARKER).is_file() and not (folder / RUNNING).exists()
    manifest = json.loads((run_dir / "second" / "manifest.json").read_text())
    assert manifest["kind"] == "sft"
    assert manifest["config"]["init"] == "first"
    assert manifest["inputs"]["init"] == str(run_dir / "first")
    assert (
        manifest["upstream_fingerprints"]["first"]
        == json.loads((run_dir / "first" / "manifest.json").read_text())["fingerprint"]
    )
    assert len(manifest["inputs"]["data"]) == 64  # sha256 of the data file
    assert manifest["metrics"]["steps"] == 2
    assert manifest["packages"]["trl"] and manifest["wall_time_s"] > 0

    again = run_recipe(load_recipe(recipe_file), run_dir)
    assert statuses(again) == {"first": "skipped", "second": "skipped"}


def test_changed_config_reruns_that_stage_and_later_ones(recipe_file: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe_file), run_dir)
    second_only = run_recipe(load_recipe(recipe_file, ["stages.second.learning_rate=1e-3"]), run_dir)
    assert statuses(second_only) == {"first": "skipped", "second": "ran"}
    both = run_recipe(
        load_recipe(recipe_file, ["stages.first.learning_rate=1e-3", "stages.second.learning_rate=1e-3"]),
        run_dir,
    )
    assert statuses(both) == {"first": "ran", "second": "ran"}


def test_cosmetic_change_does_not_rerun(recipe_file: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe_file), run_dir)
    outcomes = run_recipe(load_recipe(recipe_file, ["stages.first.logging_steps=1"]), run_dir)
    assert statuses(outcomes) == {"first": "skipped", "second": "skipped"}


def test_changed_data_reruns(recipe_file: Path, tmp_path: Path, chat_file: Path):
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe_file), run_dir)
    chat_file.write_text(chat_file.read_text() + json.dumps({"prompt": "hi", "completion": "hello"}) + "\n")
    assert statuses(run_recipe(load_recipe(recipe_file), run_dir))["first"] == "ran"


def test_until_and_stages_select(recipe_file: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    assert statuses(run_recipe(load_recipe(recipe_file), run_dir, until="first")) == {"first": "ran"}
    outcomes = run_recipe(load_recipe(recipe_file), run_dir, only=["second"])
    assert statuses(outcomes) == {"first": "skipped", "second": "ran"}


def test_selected_stage_whose_input_never_ran_fails_clearly(recipe_file: Path, tmp_path: Path):
    with pytest.raises(AlignError, match="needs stage 'first', which has not completed"):
        run_recipe(load_recipe(recipe_file), tmp_path / "run", only=["second"])


def test_interrupted_stage_resumes_from_its_checkpoint(recipe_file: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    overrides = ["stages.first.save_steps=1"]
    run_recipe(load_recipe(recipe_file, overrides), run_dir, until="first")
    # Make the finished stage look like a run killed after its last checkpoint was written.
    stage_dir = run_dir / "first"
    manifest = json.loads((stage_dir / "manifest.json").read_text())
    (stage_dir / MARKER).unlink()
    (stage_dir / RUNNING).write_text(json.dumps({"fingerprint": manifest["fingerprint"]}))
    outcomes = run_recipe(load_recipe(recipe_file, overrides), run_dir, until="first")
    assert statuses(outcomes) == {"first": "resumed"}
    resumed = json.loads((stage_dir / "manifest.json").read_text())
    assert resumed["resumed_from"].endswith("checkpoint-2")


def test_unknown_stage_in_selection(recipe_file: Path, tmp_path: Path):
    with pytest.raises(AlignError, match="no stage named 'third'"):
        run_recipe(load_recipe(recipe_file), tmp_path / "run", until="third")


def test_run_folder_copied_to_another_checkout_keeps_its_finished_stages(
    recipe_file: Path, tmp_path: Path, chat_file: Path
):
    run_recipe(load_recipe(recipe_file), tmp_path / "run")
    # Another checkout: the same data file and recipe at other absolute paths, the run folder copied beside them.
    other = tmp_path / "elsewhere"
    (other / "data").mkdir(parents=True)
    shutil.copy(chat_file, other / "data" / chat_file.name)
    recipe = yaml.safe_load(recipe_file.read_text())
    for stage in recipe["stages"]:
        stage["data"] = str(other / "data" / chat_file.name)
    (other / "chain.yaml").write_text(yaml.safe_dump(recipe))
    shutil.copytree(tmp_path / "run", other / "run")
    outcomes = run_recipe(load_recipe(other / "chain.yaml"), other / "run")
    assert statuses(outcomes) == {"first": "skipped", "second": "skipped"}


def path_based_fingerprints(recipe) -> dict[str, str]:
    """Each stage's fingerprint as align stamped it before a local file's path left the fingerprint."""
    upstream, stamps = fingerprint(model_identity(recipe)), {}
    for stage in recipe.stages:
        upstream = stamps[stage.name] = stage_fingerprint(stage, upstream, input_digests(stage), by_path=True)
    return stamps


def test_stages_stamped_with_the_path_based_fingerprint_stay_done(recipe_file: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    recipe = load_recipe(recipe_file)
    run_recipe(recipe, run_dir)
    for name, stamp in path_based_fingerprints(recipe).items():
        manifest = json.loads((run_dir / name / MANIFEST).read_text())
        assert manifest["fingerprint"] != stamp
        manifest["fingerprint"] = stamp
        (run_dir / name / MANIFEST).write_text(json.dumps(manifest))
        (run_dir / name / MARKER).write_text(stamp)
    assert statuses(run_recipe(recipe, run_dir)) == {"first": "skipped", "second": "skipped"}
    changed = run_recipe(load_recipe(recipe_file, ["stages.second.learning_rate=1e-3"]), run_dir)
    assert statuses(changed) == {"first": "skipped", "second": "ran"}


def test_stage_interrupted_under_the_path_based_fingerprint_resumes(recipe_file: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    recipe = load_recipe(recipe_file, ["stages.first.save_steps=1"])
    run_recipe(recipe, run_dir, until="first")
    stage_dir = run_dir / "first"
    (stage_dir / MARKER).unlink()
    (stage_dir / RUNNING).write_text(json.dumps({"fingerprint": path_based_fingerprints(recipe)["first"]}))
    assert statuses(run_recipe(recipe, run_dir, until="first")) == {"first": "resumed"}
    assert json.loads((stage_dir / MANIFEST).read_text())["resumed_from"].endswith("checkpoint-2")


def test_a_reward_key_added_later_leaves_grpo_stages_stamped_before_it_done():
    from align.config.schema import RewardSpec

    # The keys each reward spec had in the config GRPO stages were stamped with before `column` came (2026-12-05):
    # a dump that adds `column` at its default would change every finished GRPO stage's fingerprint.
    stamped = {"weight", "source", "budget", "model", "output", "url", "rubric"}
    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "instruct.yaml")
    grpo = next(stage for stage in recipe.stages if stage.kind == "grpo")
    upstream = "upstream"
    before = stage_fingerprint(grpo, upstream, {})
    assert all(set(spec) == stamped for spec in grpo.model_dump(mode="json")["rewards"].values())

    rewards = {**grpo.rewards, "truthfulness": RewardSpec(source="reference", column="chosen")}
    chosen = grpo.model_copy(update={"rewards": rewards})
    assert chosen.model_dump(mode="json")["rewards"]["truthfulness"]["column"] == "chosen"
    default = grpo.model_copy(update={"rewards": {**rewards, "truthfulness": RewardSpec(source="reference")}})
    fingerprints = {before, stage_fingerprint(chosen, upstream, {}), stage_fingerprint(default, upstream, {})}
    assert len(fingerprints) == 3  # the column is still part of what a reference reward reads
    assert RewardSpec.model_validate(default.rewards["truthfulness"].model_dump()).column == "reference"


def test_a_stage_key_added_later_stays_out_of_the_fingerprint_at_its_default():
    # `scale_rewards` came after GRPO stages had been stamped (2026-12-06): their fingerprint is the dump without it.
    recipe = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "math.yaml")
    grpo = next(stage for stage in recipe.stages if stage.kind == "grpo")
    stamped = grpo.model_dump(mode="json", exclude={*grpo.cosmetic, "scale_rewards"})
    assert grpo.scale_rewards == "group"
    assert stage_fingerprint(grpo, "upstream", {}) == fingerprint(
        {"config": stamped, "inputs": {}, "upstream": "upstream"}
    )
    batch = grpo.model_copy(update={"scale_rewards": "batch"})
    assert stage_fingerprint(batch, "upstream", {}) != stage_fingerprint(grpo, "upstream", {})
