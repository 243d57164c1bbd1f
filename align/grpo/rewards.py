"""The reward functions a GRPO stage hands to TRL, one per recipe entry, so each is logged on its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from align.config.schema import GRPOStage
from reward.dimensions import Dimension, LengthBudget, RuleDimension, VerifierDimension, model_dimensions
from reward.result import Verdict


def _math_check(completion: str, row: Mapping[str, Any]) -> Verdict:
    from reward.verifiers.math import verify_math

    return verify_math(completion, str(row["answer"]))


def _code_check(completion: str, row: Mapping[str, Any]) -> Verdict:
    from reward.verifiers.code import verify_code

    return verify_code(
        completion, row["tests"], entry_point=row.get("entry_point"), prompt=row.get("code_prompt") or ""
    )


CHECKS: dict[str, tuple[Callable[[str, Mapping[str, Any]], Verdict], str]] = {
    "math": (_math_check, "answer"),
    "code": (_code_check, "tests"),
}


def build_rewards(stage: GRPOStage, reward_artifact: Path | None) -> tuple[list[Dimension], list[float]]:
    """Reward callables in recipe order and their weights (TRL `reward_weights`)."""
    heads: dict[str, Dimension] = {}
    if reward_artifact is not None and any(s.source == "model" for s in stage.rewards.values()):
        # Only the heads in use: a likelihood dimension nobody asked for would cost an LM pass per batch.
        in_use = [name for name, spec in stage.rewards.items() if spec.source == "model"]
        heads = {d.name: d for d in model_dimensions(reward_artifact, names=in_use)}
    functions: list[Dimension] = []
    for name, spec in stage.rewards.items():
        if spec.source == "verifier":
            check, reference = CHECKS[stage.verifier]  # type: ignore[index]
            functions.append(VerifierDimension(name, check, reference=reference))
        elif spec.source == "model":
            functions.append(heads[name])
        else:
            functions.append(RuleDimension(name, LengthBudget(spec.budget)))
    return functions, [spec.weight for spec in stage.rewards.values()]


def weighted_total(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> float | None:
    """Weighted mean over the rewards present in a row (renormalised), None when none is present."""
    present = {k: v for k, v in scores.items() if v is not None and weights.get(k, 0) > 0}
    if not present:
        return None
    weight = sum(weights[k] for k in present)
    return sum(weights[k] * v for k, v in present.items()) / weight
