"""GRPO's `batch_size`: a step's completions trained in several forward/backward passes give the same update as
one pass over all of them, in a fraction of the activation memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from align.config.load import load_recipe
from align.memory.shape import ModelShape
from align.memory.stages import Settings, estimate_stage
from align.runner import run_recipe
from align.runtime.errors import AlignError
from align.stages.grpo.stage import training_passes


def grpo_stage(name: str, **extra) -> dict:
    return {
        "name": name,
        "kind": "grpo",
        "init": "sft",
        "prompts": "prompts.jsonl",
        "rewards": {"conciseness": {"source": "rule", "budget": 4}},
        "num_generations": 4,
        "prompts_per_step": 2,
        "max_completion_length": 12,
        "backend": "hf",
        "log_completions_steps": 1,
        "report_to": [],
        **extra,
    }


def write_recipe(tmp_path: Path, stages: list[dict], **top) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"stages": stages, **top}))
    return path


@pytest.fixture
def prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Say something about the number {a}."}) + "\n" for a in range(8)))
    return path


def sft(chat_file: Path) -> dict:
    return {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 1, "batch_size": 2, "max_length": 64}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, (8, 1)),
        ({"batch_size": 8}, (8, 1)),
        ({"batch_size": 2}, (2, 4)),
    ],
)
def test_trl_gets_passes_of_batch_size_adding_up_to_the_step(
    prompts: Path, tmp_path: Path, chat_file: Path, extra, expected
):
    stage = load_recipe(write_recipe(tmp_path, [sft(chat_file), grpo_stage("grpo", **extra)])).stages[1]
    passes = training_passes(stage)
    assert (passes["per_device_train_batch_size"], passes["gradient_accumulation_steps"]) == expected
    # TRL generates per_device_train_batch_size x gradient_accumulation_steps completions per generation.
    generated = passes["per_device_train_batch_size"] * passes["gradient_accumulation_steps"]
    assert generated == 8


def test_batch_size_that_does_not_divide_the_step_is_one_line(prompts: Path, tmp_path: Path, chat_file: Path):
    with pytest.raises(AlignError, match=r"stages\.grpo\.batch_size: 3 does not divide .* = 8 completions"):
        load_recipe(write_recipe(tmp_path, [sft(chat_file), grpo_stage("grpo", batch_size=3)]))


def test_grad_accum_on_a_grpo_stage_is_one_line_pointing_to_prompts_per_step(
    prompts: Path, tmp_path: Path, chat_file: Path
):
    # TRL would turn it into grad_accum x the step's prompts per update, against what prompts_per_step says.
    with pytest.raises(AlignError, match=r"stages\.grpo\.grad_accum: .*raise prompts_per_step"):
        load_recipe(write_recipe(tmp_path, [sft(chat_file), grpo_stage("grpo", grad_accum=2)]))


def test_memory_estimate_counts_activations_of_one_pass(prompts: Path, tmp_path: Path, chat_file: Path):
    stages = [
        sft(chat_file),
        # Without prompt selection: its sampler (a 128-row batch on a GPU) would be the peak of both stages, and
        # this is about the training pass.
        grpo_stage("whole", prompts_per_step=8, prompt_selection={"enabled": False}),
        grpo_stage("split", prompts_per_step=8, batch_size=4, prompt_selection={"enabled": False}),
    ]
    recipe = load_recipe(write_recipe(tmp_path, stages))
    # SmolLM2-135M's shape; on a GPU (checkpointing on) and with HF rollouts, whose KV cache covers the whole step.
    shape = ModelShape(hidden=576, layers=30, heads=9, kv_heads=3, intermediate=1536, vocab=49152, tied_embeddings=True)
    settings = Settings(on_gpu=True, precision="bf16", prompt_tokens=64, vllm=False)
    whole, split = (estimate_stage(recipe, s, shape, settings) for s in recipe.stages[1:])
    assert split.total < whole.total
    assert split.parts["activations or kv cache"] < whole.parts["activations or kv cache"]


def test_split_step_trains_the_same_update(prompts: Path, tmp_path: Path, tiny_model: str, chat_file: Path):
    """Same seed, same completions: two passes of 4 and one pass of 8 must leave the same adapter. A pass whose
    gradient were dropped, or counted twice, would change it far beyond float noise."""
    fast = {"max_steps": 2, "learning_rate": 1e-3}
    stages = [sft(chat_file), grpo_stage("whole", **fast), grpo_stage("split", **fast, batch_size=4)]
    recipe = load_recipe(write_recipe(tmp_path, stages, model=tiny_model, lora={"r": 4, "alpha": 8, "dropout": 0}))
    run_dir = tmp_path / "run"
    run_recipe(recipe, run_dir)

    def completions(name: str) -> list[str]:
        rows = (run_dir / name / "completions.jsonl").read_text().splitlines()
        return [json.loads(line)["completion"] for line in rows]

    assert completions("whole") == completions("split") and len(set(completions("whole"))) > 1
    before = load_file(run_dir / "sft" / "adapter_model.safetensors")
    whole = load_file(run_dir / "whole" / "adapter_model.safetensors")
    split = load_file(run_dir / "split" / "adapter_model.safetensors")
    assert whole.keys() == split.keys()
    moved = max((whole[k] - before[k]).abs().max().item() for k in whole)
    apart = max((whole[k] - split[k]).abs().max().item() for k in whole)
    assert moved > 1e-4 and apart < moved * 1e-3, (moved, apart)
    manifest = json.loads((run_dir / "split" / "manifest.json").read_text())
    assert manifest["metrics"]["steps"] == 2
