"""A tiny random Qwen2-MoE through SFT, DPO and GRPO: LoRA on attention and on the fused expert weights, with the
router's load-balancing loss in the objective (TRL logs it as `aux_loss`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from align.artifacts.contract import Manifest, mark_complete, read_manifest
from align.config.load import load_recipe
from align.runner import run_recipe

EXPERTS = ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]


@pytest.fixture(scope="module")
def tiny_moe(builtin_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    from transformers import AutoTokenizer, Qwen2MoeConfig, Qwen2MoeForCausalLM

    folder = tmp_path_factory.mktemp("tiny-moe")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model)
    config = Qwen2MoeConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=16,
        shared_expert_intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=512,
        router_aux_loss_coef=0.01,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    Qwen2MoeForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def aux_losses(stage_dir: Path) -> list[float]:
    history = json.loads((stage_dir / "log_history.json").read_text())
    return [entry["aux_loss"] for entry in history if "aux_loss" in entry]


def expert_lora(stage_dir: Path) -> dict[str, torch.Tensor]:
    weights = load_file(stage_dir / "adapter_model.safetensors")
    return {k: v for k, v in weights.items() if ".experts." in k and "lora_B" in k}


def test_moe_sft_dpo_grpo_train_attention_and_expert_lora_with_router_loss(
    tmp_path: Path, tiny_moe: str, chat_file: Path
):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(4))
    )
    train = {"max_steps": 2, "report_to": [], "logging_steps": 1, "learning_rate": 1e-2}
    recipe_path = tmp_path / "moe.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "model": tiny_moe,
                "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_parameters": EXPERTS},
                "stages": [
                    {"name": "sft", "kind": "sft", "data": str(chat_file), "batch_size": 4, "max_length": 64, **train},
                    {"name": "pairs", "kind": "pairs", "init": "sft", "prompts": str(prompts), "verifier": "math"},
                    {"name": "dpo", "kind": "dpo", "init": "sft", "pairs": "pairs", "batch_size": 2, **train},
                    {
                        "name": "grpo", "kind": "grpo", "init": "dpo", "prompts": str(prompts), "verifier": "math",
                        "prompt_selection": {"enabled": False}, "num_generations": 2, "prompts_per_step": 2,
                        "max_completion_length": 8, "backend": "hf", **train,
                    },
                ],
            }
        )
    )  # fmt: skip
    recipe = load_recipe(recipe_path)
    run = tmp_path / "run"
    run_recipe(recipe, run, only=["sft"])
    # A random MoE never answers correctly, so the pairs artifact is written by hand; DPO reads only the file.
    pairs = run / "pairs"
    pairs.mkdir()
    rows = [
        {"prompt": [{"role": "user", "content": f"What is {i} + 1?"}],
         "chosen": [{"role": "assistant", "content": f"The answer is {i + 1}."}],
         "rejected": [{"role": "assistant", "content": f"The answer is {i + 7}."}]}
        for i in range(4)
    ]  # fmt: skip
    (pairs / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    mark_complete(pairs, Manifest(name="pairs", kind="pairs", fingerprint="written-by-test"))
    run_recipe(recipe, run, only=["dpo"])
    run_recipe(recipe, run, only=["grpo"])

    previous: dict[str, torch.Tensor] | None = None
    for stage in ("sft", "dpo", "grpo"):
        folder = run / stage
        keys = load_file(folder / "adapter_model.safetensors").keys()
        assert any("self_attn.q_proj.lora_A" in k for k in keys), stage
        experts = expert_lora(folder)
        # One update per fused expert tensor per layer; lora_B starts at zero, so non-zero means it trained.
        assert len(experts) == 2 * 2, (stage, list(experts))
        assert all(v.abs().sum() > 0 for v in experts.values()), stage
        if previous is not None:
            assert any(not torch.equal(previous[k], v) for k, v in experts.items()), (
                f"{stage} left experts as they were"
            )
        previous = experts
        losses = aux_losses(folder)
        assert losses and all(value > 0 for value in losses), (stage, losses)
    # The merged sampling copy cannot hold LoRA on parameters: GRPO generated through TRL's own path instead.
    manifest = read_manifest(run / "grpo")
    assert manifest is not None
    assert "mlp.experts" in manifest.notes["merged_rollouts_off"]
    assert "rollout_engine" not in manifest.metrics


def test_merged_copy_refuses_expert_lora_and_merges_attention_lora_of_a_moe(tiny_moe: str):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from align.generation.merged import MergedCopy, unmergeable

    def adapted(**targets):
        torch.manual_seed(0)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_moe), LoraConfig(r=4, **targets))
        for name, param in model.named_parameters():
            if "lora_B" in name:  # B starts at zero: give the update something to merge
                torch.nn.init.normal_(param, std=0.1)
        return model.eval()

    experts = adapted(target_modules=["q_proj"], target_parameters=EXPERTS)
    reason = unmergeable(experts)
    assert reason is not None and "mlp.experts" in reason
    with pytest.raises(ValueError, match=r"mlp\.experts"):
        MergedCopy(experts)

    attention = adapted(target_modules=["q_proj", "v_proj"])
    assert unmergeable(attention) is None
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        torch.testing.assert_close(MergedCopy(attention).model(ids).logits, attention(ids).logits)
