"""Every preset's shape against the transformers architecture it names, offline: the full-size model built on the
meta device (no memory, no download) has exactly the parameters the shape counts, and the preset's LoRA, applied
by align to a tiny random model of the same architecture, trains exactly the parameters the estimate counts."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from align.config.presets import PRESETS, Preset
from align.config.schema import LoraSpec
from align.memory.shape import ModelShape
from align.models.load import lora_config


def config_for(shape: ModelShape, model_type: str):
    """The transformers config of `model_type` with the shape's numbers."""
    from transformers import Qwen2Config, Qwen2MoeConfig, Qwen3Config, Qwen3MoeConfig

    common = {
        "hidden_size": shape.hidden,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "intermediate_size": shape.intermediate,
        "vocab_size": shape.vocab,
        "tie_word_embeddings": shape.tied_embeddings,
    }
    moe = {
        "num_experts": shape.experts,
        "num_experts_per_tok": shape.experts_per_token,
        "moe_intermediate_size": shape.expert_intermediate,
    }
    if model_type == "qwen2":
        return Qwen2Config(**common)
    if model_type == "qwen2_moe":
        return Qwen2MoeConfig(**common, **moe, shared_expert_intermediate_size=shape.shared_intermediate)
    if model_type == "qwen3":
        return Qwen3Config(**common, head_dim=shape.dim_head)
    return Qwen3MoeConfig(**common, **moe, head_dim=shape.dim_head)


def model_type(preset: Preset) -> str:
    family = "qwen3" if preset.name.startswith("qwen3") else "qwen2"
    return family + ("_moe" if preset.shape.is_moe else "")


def build(config, device: str):
    from transformers import AutoModelForCausalLM

    with torch.device(device):
        return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_shape_counts_the_parameters_of_the_real_architecture(name: str):
    preset = PRESETS[name]
    config = config_for(preset.shape, model_type(preset))
    model = build(config, "meta")
    assert sum(p.numel() for p in model.parameters()) == preset.shape.params()
    # Reading the config back gives the preset's shape: what the preflight sees for a downloaded model.
    assert ModelShape.from_config(config) == preset.shape


def test_qwen3_presets_cover_the_dense_sizes_and_the_moe():
    qwen3 = {n: p for n, p in PRESETS.items() if n.startswith("qwen3")}
    assert set(qwen3) == {f"qwen3-{s}" for s in ("0.6b", "1.7b", "4b", "8b", "14b", "32b", "30b-a3b")}
    assert qwen3["qwen3-0.6b"].shape.params() == 596_049_920  # KerasHub's qwen3_0.6b_en metadata
    cards = {"1.7b": 1.7, "4b": 4.0, "8b": 8.2, "14b": 14.8, "32b": 32.8, "30b-a3b": 30.5}  # model cards, in billions
    for size, billions in cards.items():
        assert abs(qwen3[f"qwen3-{size}"].shape.params() / 1e9 - billions) <= 0.05, size
    moe = qwen3["qwen3-30b-a3b"].shape
    assert (moe.experts, moe.experts_per_token, moe.expert_intermediate, moe.shared_intermediate) == (128, 8, 768, 0)
    assert all(p.shape.vocab == 151936 and p.shape.qk_norm and not p.shape.qkv_bias for p in qwen3.values())


@pytest.mark.parametrize("name", ["qwen3-8b", "qwen3-30b-a3b", "qwen2.5-7b", "qwen1.5-moe-a2.7b"])
def test_preset_lora_on_a_tiny_model_of_its_architecture_trains_what_the_estimate_counts(name: str):
    from peft import get_peft_model

    preset = PRESETS[name]
    full = preset.shape
    # Same architecture and head layout, a few features wide: 2 layers, 4 experts of 2 active.
    tiny = replace(
        full,
        hidden=64,
        layers=2,
        heads=4,
        kv_heads=2,
        head_dim=16 if full.head_dim else None,
        intermediate=96,
        vocab=256,
        experts=4 if full.is_moe else 0,
        experts_per_token=2 if full.is_moe else 0,
        expert_intermediate=24 if full.is_moe else 0,
        shared_intermediate=48 if full.shared_intermediate else 0,
    )
    torch.manual_seed(0)
    model = build(config_for(tiny, model_type(preset)), "cpu")
    assert sum(p.numel() for p in model.parameters()) == tiny.params()
    spec = LoraSpec.model_validate({k: v for k, v in preset.lora.items() if k != "quantize"})
    peft_model = get_peft_model(model, lora_config(spec))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert trainable == tiny.lora_params(spec.r, spec.target_modules, expert_lora=bool(spec.target_parameters))
    # The targets exist and train: two steps move every adapter (B starts at zero, so A's first gradient is zero).
    before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.SGD([p for p in peft_model.parameters() if p.requires_grad], lr=1.0)
    ids = torch.randint(0, 256, (2, 12))
    for _ in range(2):
        optimizer.zero_grad()
        peft_model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
    moved = {n for n, p in peft_model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])}
    assert moved == set(before)
