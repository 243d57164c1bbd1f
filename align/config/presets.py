"""Presets: Qwen2.5 0.5B–72B and a Qwen MoE on one 80 GB GPU, as recipe values applied before validation.

A preset sets the whole-recipe keys (model, lora, vllm) and fills the per-kind stage settings (batch size,
accumulation, lengths) that a stage does not set itself; `--set` overrides win over both. Shapes are the
models' config.json values, so `align presets` estimates each one's GPU memory without downloading anything.

The table is configuration, read when a recipe is validated; what each preset needs in GPU memory is
align.memory.presets' business. Sizing for 80 GB (estimates from align.memory, checked by `align presets`):
- LoRA r16 on every linear layer up to 3B, r32 from 7B: more capacity where the base has more to adapt.
- 32B and 72B load their base in 4-bit (NF4): in bf16 their weights alone are 61 and 135 GiB.
- SFT keeps 8K-token rows (the report's long outputs) with batch 1 and accumulation, so a step is 16 rows.
- vLLM's share grows with the weights it must hold; 72B samples with HF generate: a second 4-bit copy in vLLM
  next to the training model would not fit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from align.errors import AlignError
from align.memory.shape import ModelShape

QWEN_VOCAB_SMALL, QWEN_VOCAB_LARGE = 151936, 152064


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    shape: ModelShape
    lora: dict[str, Any]
    vllm: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> defaults for stages of that kind


def _dense(h: int, layers: int, heads: int, kv: int, inter: int, vocab: int, tied: bool) -> ModelShape:
    return ModelShape(
        hidden=h, layers=layers, heads=heads, kv_heads=kv, intermediate=inter, vocab=vocab, tied_embeddings=tied
    )


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


SMALL_LORA = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
LARGE_LORA = {"r": 32, "alpha": 64, "dropout": 0.05, "target_modules": "all-linear"}
QLORA = {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear", "quantize": "4bit"}
MOE_EXPERTS = ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]

# The dense Qwen2.5 sizes differ only in these numbers: (size, hidden, layers, heads, kv heads, intermediate,
# vocabulary, tied embeddings, LoRA, vLLM memory share (None: HF sampling), SFT batch, GRPO prompts a step,
# completion tokens, HF sampling batch (None: the default 128)).
QWEN25 = [
    ("0.5b", 896, 24, 14, 2, 4864, QWEN_VOCAB_SMALL, True, SMALL_LORA, 0.2, 4, 4, 1024, None),
    ("1.5b", 1536, 28, 12, 2, 8960, QWEN_VOCAB_SMALL, True, SMALL_LORA, 0.25, 2, 4, 1024, None),
    ("3b", 2048, 36, 16, 2, 11008, QWEN_VOCAB_SMALL, True, SMALL_LORA, 0.3, 1, 2, 1024, None),
    ("7b", 3584, 28, 28, 4, 18944, QWEN_VOCAB_LARGE, False, LARGE_LORA, 0.35, 1, 2, 1024, None),
    ("14b", 5120, 48, 40, 8, 13824, QWEN_VOCAB_LARGE, False, LARGE_LORA, 0.45, 1, 1, 1024, 64),
    ("32b", 5120, 64, 40, 8, 27648, QWEN_VOCAB_LARGE, False, QLORA, 0.35, 1, 1, 512, 64),
    ("72b", 8192, 80, 64, 8, 29568, QWEN_VOCAB_LARGE, False, QLORA, None, 1, 1, 512, 32),
]


def _qwen25(
    size: str,
    h: int,
    layers: int,
    heads: int,
    kv: int,
    inter: int,
    vocab: int,
    tied: bool,
    lora: dict[str, Any],
    vllm_share: float | None,
    sft_batch: int,
    rl_rows: int,
    completion: int,
    sample_batch: int | None,
) -> Preset:
    return Preset(
        f"qwen2.5-{size}",
        f"Qwen/Qwen2.5-{size.upper()}-Instruct",
        _dense(h, layers, heads, kv, inter, vocab, tied),
        lora,
        {} if vllm_share is None else {"gpu_memory_utilization": vllm_share},
        _stages(sft_batch, rl_rows, completion, "auto" if vllm_share is not None else "hf", sample_batch),
    )


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        *(_qwen25(*row) for row in QWEN25),
        Preset(
            "qwen1.5-moe-a2.7b",
            "Qwen/Qwen1.5-MoE-A2.7B-Chat",
            ModelShape(
                hidden=2048,
                layers=24,
                heads=16,
                kv_heads=16,
                intermediate=5632,
                vocab=QWEN_VOCAB_SMALL,
                experts=60,
                experts_per_token=4,
                expert_intermediate=1408,
                shared_intermediate=5632,
            ),
            {**SMALL_LORA, "target_parameters": MOE_EXPERTS},
            {"gpu_memory_utilization": 0.45},
            _stages(1, 1, 1024, sample_batch=64),
        ),
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
