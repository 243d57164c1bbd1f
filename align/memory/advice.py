"""What would let a stage that does not fit its GPU fit: single changes, each as the `--set` override that makes
it and the estimate with it, so `align validate` can say which knob is enough before anything is loaded.

One knob at a time, the gentlest value that fits: QLoRA, gradient checkpointing, then halving a batch or a length
until the stage fits (never below a floor where training stops making sense). When no single change fits, the
answer is empty and the caller says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from align.config.schema import DPOStage, GRPOStage, PairsStage, Recipe, RewardStage, SFTStage, StageBase
from align.generation.backend import HF_BATCH_GPU
from align.memory.estimate import Estimate
from align.memory.stages import POLICY_STAGES

Estimator = Callable[[Recipe, StageBase], Estimate]
# Halvable knobs per stage kind: (key, floor). A length below its floor would cut the rows the stage trains on.
KNOBS: dict[type[StageBase], tuple[tuple[str, int], ...]] = {
    SFTStage: (("batch_size", 1), ("max_length", 1024)),
    DPOStage: (("batch_size", 1), ("max_length", 1024)),
    RewardStage: (("batch_size", 1), ("max_length", 128)),
    PairsStage: (("sample_batch", 1), ("max_new_tokens", 128)),
    GRPOStage: (("batch_size", 1), ("sample_batch", 1), ("max_completion_length", 128)),
}


@dataclass(frozen=True)
class Fix:
    override: str  # what to pass to --set
    estimate: Estimate


def fixes(recipe: Recipe, stage: StageBase, estimate: Estimator, budget: float) -> list[Fix]:
    """The single changes after which `stage` needs at most `budget` bytes, each with its estimate."""
    found = []
    for override, changed_recipe, changed_stage in _changes(recipe, stage, estimate, budget):
        after = estimate(changed_recipe, changed_stage)
        if after.total <= budget:
            found.append(Fix(override, after))
    return found


def _changes(
    recipe: Recipe, stage: StageBase, estimate: Estimator, budget: float
) -> Iterator[tuple[str, Recipe, StageBase]]:
    if recipe.lora.quantize is None and isinstance(stage, POLICY_STAGES):
        quantized = recipe.model_copy(update={"lora": recipe.lora.model_copy(update={"quantize": "4bit"})})
        yield "lora.quantize=4bit", quantized, stage
    if getattr(stage, "gradient_checkpointing", None) is False:
        yield (
            f"stages.{stage.name}.gradient_checkpointing=true",
            recipe,
            stage.model_copy(update={"gradient_checkpointing": True}),
        )
    for key, floor in KNOBS.get(type(stage), ()):
        value = _halved_until_it_fits(recipe, stage, key, floor, estimate, budget)
        if value is not None:
            yield f"stages.{stage.name}.{key}={value}", recipe, stage.model_copy(update={key: value})


def _halved_until_it_fits(
    recipe: Recipe, stage: StageBase, key: str, floor: int, estimate: Estimator, budget: float
) -> int | None:
    """The largest of current/2, current/4, ... (not below `floor`) with which the stage fits; None if none."""
    value = _current(stage, key) // 2
    while value >= floor:
        allowed = not (key == "batch_size" and isinstance(stage, GRPOStage) and stage.rows_per_step % value)
        if allowed and estimate(recipe, stage.model_copy(update={key: value})).total <= budget:
            return value
        value //= 2
    return None


def _current(stage: StageBase, key: str) -> int:
    if key == "batch_size" and isinstance(stage, GRPOStage):
        return stage.rows_per_pass  # 0 means the whole step in one pass
    if key == "sample_batch":
        return getattr(stage, "sample_batch", None) or HF_BATCH_GPU
    return int(getattr(stage, key))
