"""GRPO's rewards: built from the recipe, totalled per group the way training totals them, and summarised for the
manifest."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import Any

from align.config.schema import GRPOStage
from align.models.reward_inputs import reward_inputs
from reward import BuiltReward, aggregate, build_rewards


def stage_rewards(stage: GRPOStage, reward_artifact: Path | None, policy: str | None = None) -> list[BuiltReward]:
    """The stage's rewards in recipe order, each with its weight (TRL `reward_weights`)."""
    return build_rewards(stage.rewards, reward_inputs(stage.verifier, reward_artifact, policy))


def named_weights(rewards: Sequence[BuiltReward]) -> dict[str, float]:
    return {r.name: r.weight for r in rewards}


def score_groups(
    rewards: Sequence[BuiltReward], rows: list[dict[str, Any]], groups: list[list[str]]
) -> list[list[float | None]]:
    """Total reward of every completion, grouped per prompt, computed the way training will compute it."""
    flat_rows = [row for row, group in zip(rows, groups, strict=True) for _ in group]
    completions = [c for group in groups for c in group]
    columns = {key: [row.get(key) for row in flat_rows] for key in flat_rows[0] if key != "prompt"}
    prompts = [row["prompt"] for row in flat_rows]
    scores = {r.name: r.function(prompts, completions, **columns) for r in rewards}
    totals = aggregate(scores, named_weights(rewards)).totals
    size = len(groups[0]) if groups else 0
    return [totals[i * size : (i + 1) * size] for i in range(len(groups))]


def reward_flags(rewards: Sequence[BuiltReward]) -> dict[str, int]:
    """Scores that stood but were flagged (a verifier's `sandbox_unisolated`, ...), per reward function."""
    counts = {f"{r.name}/{flag}": n for r in rewards for flag, n in (getattr(r.function, "flags", None) or {}).items()}
    return dict(sorted(counts.items()))


def reward_metrics(history: list[dict[str, Any]], names: list[str]) -> dict[str, float]:
    """First-half vs second-half mean of each logged reward: did it rise over training? A step that scored no
    row on a reward (a verifier's reward on a step of unverified prompts only, with several prompt sources) logs
    None or NaN for it; such steps are left out of that reward's halves, not of the stage."""
    metrics: dict[str, float] = {}
    for key in ["reward", *(f"rewards/{n}/mean" for n in names)]:
        values = [float(v) for e in history if isinstance(v := e.get(key), int | float) and not math.isnan(v)]
        if not values:
            continue
        label = key.removeprefix("rewards/").removesuffix("/mean")
        half = max(1, len(values) // 2)
        metrics[f"{label}_first_half"] = float(mean(values[:half]))
        metrics[f"{label}_second_half"] = float(mean(values[half:] or values[-1:]))
    return metrics
