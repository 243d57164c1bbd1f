"""What each preset needs on one 80 GB GPU, stage kind by stage kind (`align presets`), from its shape alone."""

from __future__ import annotations

from align.config.presets import Preset, apply_preset
from align.config.schema import Recipe
from align.memory.stages import Settings, estimate_stage

EIGHTY_GB = 80 * 10**9
PROMPT_TOKENS = 512  # assumed longest prompt when estimating a preset's sampling and GRPO memory
STAGES = [
    {"name": "sft", "kind": "sft", "data": "x.jsonl"},
    {"name": "pairs", "kind": "pairs", "init": "sft", "prompts": "p.jsonl", "verifier": "math"},
    {"name": "dpo", "kind": "dpo", "init": "sft", "pairs": "pairs"},
    {"name": "grpo", "kind": "grpo", "init": "dpo", "prompts": "p.jsonl", "verifier": "math"},
]


def preset_recipe(preset: Preset) -> Recipe:
    """A recipe of one stage per kind with nothing but the preset's settings."""
    return Recipe.model_validate(apply_preset({"name": "preset", "stages": STAGES}, preset.name))


def preset_memory(preset: Preset) -> dict[str, float]:
    """Estimated peak bytes per stage kind on one GPU, with the preset's own settings (HF sampling)."""
    recipe = preset_recipe(preset)
    settings = Settings(precision="bf16", on_gpu=True, device_bytes=EIGHTY_GB, prompt_tokens=PROMPT_TOKENS)
    return {s.kind: estimate_stage(recipe, s, preset.shape, settings).total for s in recipe.stages}
