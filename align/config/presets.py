"""Presets: Qwen2.5 0.5B–72B, Qwen3 0.6B–32B and two Qwen MoEs on one 80 GB GPU, as recipe values applied before
validation.

A preset sets the whole-recipe keys (model, lora, vllm) and fills the per-kind stage settings (batch size,
accumulation, lengths) that a stage does not set itself; `--set` overrides win over both. Shapes are the
models' config.json values, so `align presets` estimates each one's GPU memory without downloading anything.

The table is configuration, read when a recipe is validated; what each preset needs in GPU memory is
align.memory.presets' business. Sizing for 80 GB (estimates from align.memory, checked by `align presets`):
- LoRA r16 on every linear layer up to 4B, r32 from 7B: more capacity where the base has more to adapt.
- 32B and 72B load their base in 4-bit (NF4): in bf16 their weights alone are 61 and 135 GiB.
- From 14B, HF sampling decodes 64 sequences at a time (32 for 72B and Qwen3-30B-A3B), not 128: the KV cache of
  128 long answers would not fit beside the weights.
- SFT keeps 8K-token rows (the report's long outputs) with batch 1 and accumulation, so a step is 16 rows.
- vLLM's share grows with the weights it must hold; 72B and Qwen3-30B-A3B sample with HF generate: a second
  copy of their weights in vLLM next to the training model would not fit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from align.memory.shape import ModelShape
from align.runtime.errors import AlignError

QWEN_VOCAB_SMALL, QWEN_VOCAB_LARGE = 151936, 152064


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    shape: ModelShape
    lora: dict[str, Any]
    vllm: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> defaults for stages of that kind


SMALL_LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
LARGE_LORA = {"r": 32, "alpha": 64, "dropout": 0.05, "target_modules": "all-linear"}
QLORA = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear", "quantize": "4bit"}
MOE_EXPERTS = ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]  # fused expert tensors (PEFT target_parameters)
# LoRA on attention and every expert; PEFT adapts parameters only without dropout.
MOE_LORA = {**SMALL_LORA, "dropout": 0.0, "target_parameters": MOE_EXPERTS}


def _stages(
    sft_batch: int, rl_rows: int, completion: int, backend: str = "auto", sample_batch: int | None = None
) -> dict[str, dict[str, Any]]:
    """Per-kind defaults: SFT at 8K tokens, DPO at 4K, GRPO with groups of 8 and `rl_rows` prompts a step;
    `sample_batch` (HF sampling) where the default 128 sequences' KV cache would not fit beside the weights."""
    sampling = {"backend": backend} | ({"sample_batch": sample_batch} if sample_batch else {})
    return {
        "sft": {"batch_size": sft_batch, "grad_accum": 16 // sft_batch, "max_length": 8192},
        "dpo": {"batch_size": 1, "grad_accum": 16, "max_length": 4096},
        "pairs": {"max_new_tokens": completion, **sampling},
        "grpo": {
            "num_generations": 8,
            "prompts_per_step": rl_rows,
            "max_completion_length": completion,
            **sampling,
        },
    }


def qwen25(
    hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, vocab: int, tied: bool
) -> ModelShape:
    """A Qwen2.5 shape (config.json of Qwen/Qwen2.5-*-Instruct): q/k/v biases, head_dim = hidden / heads."""
    return ModelShape(hidden, layers, heads, kv_heads, intermediate, vocab, tied)


def qwen3(hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, tied: bool) -> ModelShape:
    """A Qwen3 shape (config.json of Qwen/Qwen3-*): no q/k/v biases, per-head q/k norms, head_dim 128 at every
    size, one 151,936-entry vocabulary."""
    return ModelShape(
        hidden,
        layers,
        heads,
        kv_heads,
        intermediate,
        QWEN_VOCAB_SMALL,
        tied,
        head_dim=128,
        qkv_bias=False,
        qk_norm=True,
    )


class Size(NamedTuple):
    """One dense size of a family: its shape, then how align trains it on 80 GB."""

    size: str
    shape: ModelShape
    lora: dict[str, Any]
    vllm_share: float | None  # None: HF sampling (vLLM's copy of the weights would not fit beside training)
    sft_batch: int
    rl_rows: int  # GRPO prompts a step
    completion: int  # tokens sampled per answer
    sample_batch: int | None = None  # HF sampling batch where the default 128 rows' KV cache would not fit


QWEN25 = [
    Size("0.5b", qwen25(896, 24, 14, 2, 4864, QWEN_VOCAB_SMALL, True), SMALL_LORA, 0.2, 4, 4, 1024),
    Size("1.5b", qwen25(1536, 28, 12, 2, 8960, QWEN_VOCAB_SMALL, True), SMALL_LORA, 0.25, 2, 4, 1024),
    Size("3b", qwen25(2048, 36, 16, 2, 11008, QWEN_VOCAB_SMALL, True), SMALL_LORA, 0.3, 1, 2, 1024),
    Size("7b", qwen25(3584, 28, 28, 4, 18944, QWEN_VOCAB_LARGE, False), LARGE_LORA, 0.35, 1, 2, 1024),
    Size("14b", qwen25(5120, 48, 40, 8, 13824, QWEN_VOCAB_LARGE, False), LARGE_LORA, 0.45, 1, 1, 1024, 64),
    Size("32b", qwen25(5120, 64, 40, 8, 27648, QWEN_VOCAB_LARGE, False), QLORA, 0.35, 1, 1, 512, 64),
    Size("72b", qwen25(8192, 80, 64, 8, 29568, QWEN_VOCAB_LARGE, False), QLORA, None, 1, 1, 512, 32),
]
# 0.6B-4B tie the head to the embedding. The same training choices as the Qwen2.5 size nearest in parameters;
# 32B in 4-bit, as Qwen2.5-32B (bf16 weights alone: 61 GiB).
QWEN3 = [
    Size("0.6b", qwen3(1024, 28, 16, 8, 3072, True), SMALL_LORA, 0.2, 4, 4, 1024),
    Size("1.7b", qwen3(2048, 28, 16, 8, 6144, True), SMALL_LORA, 0.25, 2, 4, 1024),
    Size("4b", qwen3(2560, 36, 32, 8, 9728, True), SMALL_LORA, 0.3, 1, 2, 1024),
    Size("8b", qwen3(4096, 36, 32, 8, 12288, False), LARGE_LORA, 0.35, 1, 2, 1024),
    Size("14b", qwen3(5120, 40, 40, 8, 17408, False), LARGE_LORA, 0.45, 1, 1, 1024, 64),
    Size("32b", qwen3(5120, 64, 64, 8, 25600, False), QLORA, 0.35, 1, 1, 512, 64),
]


def _preset(name: str, model: str, row: Size) -> Preset:
    backend = "auto" if row.vllm_share is not None else "hf"
    return Preset(
        name,
        model,
        row.shape,
        row.lora,
        {} if row.vllm_share is None else {"gpu_memory_utilization": row.vllm_share},
        _stages(row.sft_batch, row.rl_rows, row.completion, backend, row.sample_batch),
    )


QWEN15_MOE = Preset(
    "qwen1.5-moe-a2.7b",
    "Qwen/Qwen1.5-MoE-A2.7B-Chat",
    replace(
        qwen25(2048, 24, 16, 16, 5632, QWEN_VOCAB_SMALL, False),
        experts=60,
        experts_per_token=4,
        expert_intermediate=1408,
        shared_intermediate=5632,
    ),
    MOE_LORA,
    {"gpu_memory_utilization": 0.45},
    _stages(1, 1, 1024, sample_batch=64),
)
# Qwen3-30B-A3B (config.json of Qwen/Qwen3-30B-A3B): 48 layers of 128 experts (8 active, 768 wide each, no shared
# expert), 32 query / 4 KV heads of 128. Its 30.5B bf16 weights (57 GiB) leave no room for a vLLM copy, and
# bitsandbytes packs only nn.Linear layers — not the fused expert tensors that hold 95 % of the weights — so the
# base stays bf16 and sampling is HF generate. LoRA covers attention and, as for Qwen1.5-MoE, every expert and
# the router (what PEFT adapts on Qwen3-MoE anyway, the fused gate_up at twice the rank), at r8: 0.5B trainable
# parameters, 7.4 GiB with AdamW (r16 would need 15 GiB, more than 80 GB leaves beside 57 GiB of weights).
QWEN3_MOE = Preset(
    "qwen3-30b-a3b",
    "Qwen/Qwen3-30B-A3B",
    replace(
        qwen3(2048, 48, 32, 4, 6144, False),
        experts=128,
        experts_per_token=8,
        expert_intermediate=768,
        peft_moe_conversion=True,
    ),
    {**MOE_LORA, "r": 8, "alpha": 16},
    {},
    _stages(1, 1, 512, backend="hf", sample_batch=32),
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        *(_preset(f"qwen2.5-{row.size}", f"Qwen/Qwen2.5-{row.size.upper()}-Instruct", row) for row in QWEN25),
        *(_preset(f"qwen3-{row.size}", f"Qwen/Qwen3-{row.size.upper()}", row) for row in QWEN3),
        QWEN15_MOE,
        QWEN3_MOE,
    ]
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise AlignError(f"preset: unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return PRESETS[name]


def apply_preset(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """The raw recipe with the preset applied: model/lora/vllm set, stage defaults filled per kind."""
    preset = get_preset(name)
    out = copy.deepcopy(raw)
    out["preset"] = name
    out["model"] = preset.model
    out["lora"] = dict(preset.lora)
    out["vllm"] = {**out.get("vllm", {}), **preset.vllm} if isinstance(out.get("vllm"), dict) else dict(preset.vllm)
    for stage in out.get("stages") or []:
        if isinstance(stage, dict):
            for key, value in preset.stages.get(str(stage.get("kind")), {}).items():
                stage.setdefault(key, value)
    return out
