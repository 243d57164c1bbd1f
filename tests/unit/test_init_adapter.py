"""Recipes that start anywhere: `init` names an earlier stage, an adapter folder, a hub adapter, or nothing."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import yaml

from align.artifacts.contract import digest_path
from align.cli import main
from align.config.init_ref import init_kind
from align.config.load import load_recipe, shipped_dirs
from align.evaluation.targets import resolve_target
from align.runner import input_digests, run_recipe, stage_fingerprint
from align.runtime.errors import AlignError
from align.stages.init_adapter import same_model

HUB_ERROR = "an adapter folder or a hub adapter name (owner/name)"


def sft(name: str = "sft") -> dict:
    return {"name": name, "kind": "sft", "data": "chat.jsonl"}


def dpo(**extra) -> dict:
    return {"name": "dpo", "kind": "dpo", "pairs": "./prefs.jsonl", **extra}


@pytest.fixture
def in_tmp(tmp_path: Path, chat_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding chat.jsonl, prefs.jsonl, an adapter folder `adapters/ext` (config only: enough to
    validate) and a folder `not-an-adapter`."""
    monkeypatch.chdir(tmp_path)
    prefs = [{"prompt": f"What is {a} + 1?", "chosen": str(a + 1), "rejected": str(a + 2)} for a in range(4)]
    (tmp_path / "prefs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in prefs))
    (tmp_path / "adapters" / "ext").mkdir(parents=True)
    (tmp_path / "adapters" / "ext" / "adapter_config.json").write_text(json.dumps({"r": 4}))
    (tmp_path / "not-an-adapter").mkdir()
    return tmp_path


def write(folder: Path, stages: list[dict], file: str = "r.yaml", **recipe) -> Path:
    path = folder / file
    path.write_text(yaml.safe_dump({"stages": stages, **recipe}))
    return path


def init_of(path: Path, stage: int = -1) -> str | None:
    return load_recipe(path).stages[stage].init


def error_line(path: Path, capsys) -> str:
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_no_init_is_a_fresh_adapter_for_dpo_grpo_and_pairs(in_tmp: Path):
    grpo = {"name": "grpo", "kind": "grpo", "prompts": "chat.jsonl", "verifier": "math"}
    pairs = {"name": "pairs", "kind": "pairs", "prompts": "chat.jsonl", "verifier": "math"}
    recipe = load_recipe(write(in_tmp, [pairs, dpo(pairs="pairs"), grpo]))
    assert [s.init for s in recipe.stages] == [None, None, None]


def test_a_stage_name_is_the_stage_even_where_a_folder_has_that_name(in_tmp: Path):
    (in_tmp / "sft").mkdir()
    assert init_of(write(in_tmp, [sft(), dpo(init="sft")])) == "sft"


@pytest.mark.parametrize("written", ["adapters/ext", "./adapters/ext", "{tmp}/adapters/ext"])
def test_an_adapter_folder_is_stored_as_its_absolute_path(in_tmp: Path, written: str):
    init = init_of(write(in_tmp, [dpo(init=written.format(tmp=in_tmp))]))
    assert init == str((in_tmp / "adapters" / "ext").resolve()) and init_kind(init) == "folder"


def test_a_bare_name_that_is_no_stage_is_a_folder_when_one_exists(in_tmp: Path):
    shutil.copytree(in_tmp / "adapters" / "ext", in_tmp / "my_adapter")
    assert init_of(write(in_tmp, [sft(), dpo(init="my_adapter")])) == str((in_tmp / "my_adapter").resolve())


def test_an_adapter_folder_is_found_beside_the_recipe(in_tmp: Path, tmp_path_factory: pytest.TempPathFactory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(in_tmp / "adapters", elsewhere / "adapters")
    recipe = write(elsewhere, [dpo(init="adapters/ext", pairs=str(in_tmp / "prefs.jsonl"))])
    shutil.rmtree(in_tmp / "adapters")
    assert init_of(recipe) == str((elsewhere / "adapters" / "ext").resolve())


def test_an_owner_slash_name_that_is_no_folder_is_a_hub_adapter(in_tmp: Path):
    init = init_of(write(in_tmp, [dpo(init="someone/qwen-sft-lora")]))
    assert init == "someone/qwen-sft-lora" and init_kind(init) == "hub"


def test_errors_name_the_key_and_what_the_value_could_have_been(in_tmp: Path, capsys):
    recipe = write(in_tmp, [sft(), dpo(init="sfft")])
    expected = f"stages.dpo.init: 'sfft' is not an earlier stage (sft), {HUB_ERROR}"
    assert error_line(recipe, capsys) == f"error: {recipe}: {expected}"

    recipe = write(in_tmp, [dpo(init="a/b/c")])
    assert (
        error_line(recipe, capsys)
        == f"error: {recipe}: stages.dpo.init: 'a/b/c' is not an earlier stage (none), {HUB_ERROR}"
    )

    recipe = write(in_tmp, [dpo(init="./adapters/missing")])
    tried = ", ".join(str(d / "adapters") for d in [in_tmp, *shipped_dirs()])
    expected = f"stages.dpo.init: adapter folder not found: ./adapters/missing (looked in {tried})"
    assert error_line(recipe, capsys) == f"error: {recipe}: {expected}"

    recipe = write(in_tmp, [dpo(init="not-an-adapter")])
    expected = (
        f"stages.dpo.init: {in_tmp / 'not-an-adapter'} has no adapter_config.json; it is not a PEFT adapter folder"
    )
    assert error_line(recipe, capsys) == f"error: {recipe}: {expected}"

    recipe = write(in_tmp, [dpo(init="./prefs.jsonl")])
    expected = "stages.dpo.init: ./prefs.jsonl is a file; an adapter is a folder holding adapter_config.json"
    assert error_line(recipe, capsys) == f"error: {recipe}: {expected}"


def test_a_later_stage_and_a_wrong_kind_are_still_reported_as_stages(in_tmp: Path, capsys):
    recipe = write(in_tmp, [dpo(init="sft"), sft()])
    expected = "stages.dpo.init: 'sft' is a later stage; it must name an earlier stage (none)"
    assert error_line(recipe, capsys) == f"error: {recipe}: {expected}"
    pairs = {"name": "pairs", "kind": "pairs", "prompts": "chat.jsonl", "verifier": "math"}
    recipe = write(in_tmp, [pairs, dpo(init="pairs")])
    expected = "stages.dpo.init: 'pairs' is a pairs stage; expected sft or dpo"
    assert error_line(recipe, capsys) == f"error: {recipe}: {expected}"


def fingerprint_of(path: Path) -> str:
    stage = load_recipe(path).stages[-1]
    return stage_fingerprint(stage, "upstream", input_digests(stage))


def test_an_adapter_folder_counts_by_its_files_not_its_path(in_tmp: Path):
    recipe = write(in_tmp, [dpo(init="adapters/ext")])
    stage = load_recipe(recipe).stages[0]
    assert input_digests(stage)["init"] == digest_path(in_tmp / "adapters" / "ext")
    before = fingerprint_of(recipe)
    shutil.copytree(in_tmp / "adapters" / "ext", in_tmp / "copy")
    assert fingerprint_of(write(in_tmp, [dpo(init="copy")], file="copy.yaml")) == before
    (in_tmp / "adapters" / "ext" / "adapter_config.json").write_text(json.dumps({"r": 8}))
    assert fingerprint_of(recipe) != before


def test_a_hub_adapter_counts_by_its_name_and_a_stage_not_at_all(in_tmp: Path):
    hub = load_recipe(write(in_tmp, [dpo(init="someone/qwen-sft-lora")])).stages[0]
    assert input_digests(hub)["init"] == "hub:someone/qwen-sft-lora"
    # An init stage is upstream already: inputs of recipes written before `init` took adapters are unchanged.
    staged = load_recipe(write(in_tmp, [sft(), dpo(init="sft")])).stages[1]
    assert "init" not in input_digests(staged)


@pytest.mark.parametrize(
    ("trained_on", "same"),
    [
        (None, True),
        ("smollm2-135m-instruct", True),
        ("/home/someone/.cache/align/models/smollm2-135m-instruct", True),
        ("/cache/models/smollm2-135m-instruct/", True),
        ("Qwen/Qwen2.5-0.5B", False),
    ],
)
def test_an_adapter_for_another_model_is_told_apart(trained_on: str | None, same: bool):
    assert same_model(trained_on, "smollm2-135m-instruct", "/root/.cache/align/models/smollm2-135m-instruct") is same


# Real runs on the tiny random model.


def lora_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "adapter_model.safetensors")


def make_adapter(model: str, folder: Path) -> Path:
    """A PEFT adapter of `model` with random (non-zero) weights, saved the way any PEFT user saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(AutoModelForCausalLM.from_pretrained(model), config).save_pretrained(folder)
    return folder


TRAIN = {"max_steps": 2, "batch_size": 2, "max_length": 64, "learning_rate": 1e-2, "report_to": []}


def test_dpo_trains_an_adapter_folder_made_elsewhere(in_tmp: Path, tiny_model: str, caplog):
    adapter = make_adapter(tiny_model, in_tmp / "made-elsewhere")
    recipe = write(in_tmp, [dpo(init="made-elsewhere", **TRAIN)], model=tiny_model, lora={"r": 4, "alpha": 8})
    run_dir = in_tmp / "run"
    outcome = run_recipe(load_recipe(recipe), run_dir)[0]
    assert outcome.status == "ran"
    manifest = json.loads((run_dir / "dpo" / "manifest.json").read_text())
    assert manifest["inputs"]["init"] == digest_path(adapter)
    assert manifest["upstream_fingerprints"] == {}
    assert manifest["notes"]["init_adapter"]["source"] == "folder"
    assert "base_model_differs" not in manifest["notes"]["init_adapter"]
    start, trained = lora_weights(adapter), lora_weights(run_dir / "dpo")
    assert start.keys() == trained.keys()
    assert any(not start[k].equal(trained[k]) for k in start)
    # The run's evaluation has no before/after for it: the adapter it started from is not part of the run.
    policies = resolve_target(run_dir).policies
    assert [(p.name, p.init) for p in policies] == [("base", None), ("dpo", None)]

    assert run_recipe(load_recipe(recipe), run_dir)[0].status == "skipped"
    # Changing a file of the adapter re-runs the stage; this change also says it was trained on another model.
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps(config | {"base_model_name_or_path": "someone/other"}))
    with caplog.at_level(logging.WARNING, logger="align.stages.init_adapter"):
        assert run_recipe(load_recipe(recipe), run_dir)[0].status == "ran"
    warning = (
        f"stages.dpo.init: adapter {adapter.resolve()} says it was trained on 'someone/other', not the recipe's "
        f"model '{tiny_model}'; using it anyway"
    )
    assert warning in caplog.messages
    manifest = json.loads((run_dir / "dpo" / "manifest.json").read_text())
    assert (
        manifest["inputs"]["init"] == digest_path(adapter) and manifest["notes"]["init_adapter"]["base_model_differs"]
    )


def test_grpo_alone_trains_a_fresh_adapter_on_the_base_model(in_tmp: Path, tiny_model: str):
    prompts = in_tmp / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"What is {a} + 2?"}) + "\n" for a in range(6)))
    grpo = {
        "name": "grpo", "kind": "grpo", "prompts": "prompts.jsonl", "rewards": {"conciseness": {"source": "rule",
        "budget": 4}}, "num_generations": 4, "prompts_per_step": 1, "max_completion_length": 12, "backend": "hf",
        **TRAIN,
    }  # fmt: skip
    run_dir = in_tmp / "run"
    outcome = run_recipe(load_recipe(write(in_tmp, [grpo], model=tiny_model, lora={"r": 4, "alpha": 8})), run_dir)[0]
    assert outcome.status == "ran" and outcome.metrics["steps"] == 2
    manifest = json.loads((run_dir / "grpo" / "manifest.json").read_text())
    assert manifest["config"]["init"] is None and "init" not in manifest["inputs"]
    trained = lora_weights(run_dir / "grpo")
    # A fresh LoRA adapter starts with B = 0: a non-zero B is what training moved.
    assert any(k.endswith("lora_B.weight") and v.abs().max() > 0 for k, v in trained.items())
    policies = resolve_target(run_dir).policies
    assert [(p.name, p.init) for p in policies] == [("base", None), ("grpo", "base")]


def test_a_hub_adapter_that_cannot_be_fetched_is_one_line(in_tmp: Path, tiny_model: str):
    recipe = write(in_tmp, [dpo(init="someone/no-such-adapter", **TRAIN)], model=tiny_model)
    with pytest.raises(AlignError, match=r"^stages\.dpo\.init: cannot fetch hub adapter 'someone/no-such-adapter': "):
        run_recipe(load_recipe(recipe), in_tmp / "run")


def test_an_adapter_of_another_model_size_is_one_line(in_tmp: Path, tiny_model: str, builtin_model: str):
    from transformers import AutoTokenizer, LlamaForCausalLM

    from tests.conftest import tiny_llama

    wider = in_tmp / "wider-model"
    LlamaForCausalLM(tiny_llama(AutoTokenizer.from_pretrained(builtin_model), hidden_size=64)).save_pretrained(wider)
    make_adapter(str(wider), in_tmp / "wider-adapter")
    recipe = write(in_tmp, [dpo(init="wider-adapter", **TRAIN)], model=tiny_model)
    with pytest.raises(AlignError, match=r"^stages\.dpo\.init: adapter .*wider-adapter does not fit .*size mismatch"):
        run_recipe(load_recipe(recipe), in_tmp / "run")


def test_pairs_sample_the_base_model_and_dpo_trains_a_fresh_adapter_on_them(in_tmp: Path, digit_model: str):
    prompts = in_tmp / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say 1 or 2 ({i})", "answer": "1"}) + "\n" for i in range(6)))
    pairs = {"name": "pairs", "kind": "pairs", "prompts": "prompts.jsonl", "verifier": "math", "backend": "hf"}
    recipe = write(in_tmp, [pairs, dpo(pairs="pairs", **TRAIN)], model=digit_model, lora={"r": 4, "alpha": 8})
    run_dir = in_tmp / "run"
    outcomes = run_recipe(load_recipe(recipe), run_dir)
    assert [o.status for o in outcomes] == ["ran", "ran"] and outcomes[0].metrics["pairs"] > 0
    manifest = json.loads((run_dir / "dpo" / "manifest.json").read_text())
    assert manifest["notes"]["reference"] == "the base model (a fresh adapter)"
    assert list(manifest["upstream_fingerprints"]) == ["pairs"]
    assert any(k.endswith("lora_B.weight") and v.abs().max() > 0 for k, v in lora_weights(run_dir / "dpo").items())
