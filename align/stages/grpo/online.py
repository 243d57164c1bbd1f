"""The GRPO stage's online options assembled in one place: DAPO dynamic sampling (dynamic.py) and prompt
selection re-run every N steps (reselect.py). Each wraps TRL's trainer class; re-selection adds a callback."""

from __future__ import annotations

from typing import Any, TypeVar

from transformers import TrainerCallback

from align.artifacts.contract import PROMPT_RESELECTION
from align.config.schema import GRPOStage
from align.runtime.context import StageContext
from align.stages.grpo.dynamic import DynamicSampling, with_dynamic_sampling
from align.stages.grpo.reselect import LiveOrderSampler, Reselect, ScoreGroups, with_live_order

T = TypeVar("T")


def online_filtering(
    stage: GRPOStage,
    ctx: StageContext,
    trainer_class: type[T],
    pool: list[dict[str, Any]],
    training_rows: list[dict[str, Any]],
    score_groups: ScoreGroups,
) -> tuple[type[T], list[TrainerCallback]]:
    """The trainer class to build (TRL's, wrapped as the recipe asks) and the callbacks it needs."""
    callbacks: list[TrainerCallback] = []
    if stage.dynamic_sampling.enabled:
        sampling = DynamicSampling(pool, stage.num_generations, stage.dynamic_sampling.max_rounds, stage.seed)
        trainer_class = with_dynamic_sampling(trainer_class, sampling)
    selection = stage.prompt_selection
    if selection.enabled and selection.every:
        holder: dict[str, LiveOrderSampler] = {}
        trainer_class = with_live_order(trainer_class, holder)
        sampling_args = {
            "n": selection.num_generations or stage.num_generations,
            "temperature": stage.temperature,
            "top_p": stage.top_p,
            "max_new_tokens": stage.max_completion_length,
            "seed": stage.seed,
        }
        path = ctx.stage_dir / PROMPT_RESELECTION
        callbacks.append(Reselect(training_rows, score_groups, holder, selection.every, sampling_args, path))
    return trainer_class, callbacks
