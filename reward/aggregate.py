"""The one rule that turns per-dimension scores into one reward per row.

    total = Σ_d w_d · s_d   over the dimensions d that scored the row (a missing score adds nothing),
    total = None            when no dimension at all scored the row (weighted or not).

This is, term for term, the reward TRL's GRPOTrainer optimises with `reward_weights` (1.16,
`_generate_and_score_completions`): a reward function's None becomes NaN, the weighted scores are summed with
`nansum`, and a row on which every reward function returned None is "unscorable" (NaN, zero advantage). Prompt
selection, the GRPO completions log, evaluation and `align reward score` all use this function, so every total
align reports is the number training sees. tests/reward/test_aggregate.py checks it against TRL's own code.
A missing score is therefore a zero contribution, not a rescaled one: rows that a verifier could not judge
rank below rows it judged correct, exactly as they do for the gradient. NaN counts as missing, as in TRL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Score = float | None


@dataclass(frozen=True)
class DimensionStats:
    """Raw scores of one dimension over a batch; None fields when nothing scored."""

    scored: int
    missing: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True)
class Aggregate:
    totals: list[Score]
    unscored: int
    stats: dict[str, DimensionStats]


def present(x: Score) -> bool:
    return x is not None and not math.isnan(x)


def _stats(scores: Sequence[Score]) -> DimensionStats:
    values = [s for s in scores if s is not None and present(s)]
    if not values:
        return DimensionStats(0, len(scores), None, None, None, None)
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return DimensionStats(len(values), len(scores) - len(values), mean, std, min(values), max(values))


def check_weights(weights: Mapping[str, float]) -> None:
    """Weights must be non-negative with a positive sum (TRL accepts anything; a recipe should not)."""
    if not weights or any(w < 0 or math.isnan(w) for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {dict(weights)}")


def aggregate(scores: Mapping[str, Sequence[Score]], weights: Mapping[str, float]) -> Aggregate:
    """Totals by the rule in the module docstring; a dimension in `scores` without a weight has weight 0."""
    check_weights(weights)
    missing = [d for d in weights if d not in scores]
    if missing:
        raise KeyError(f"no scores for weighted dimension(s) {missing}; got {sorted(scores)}")
    lengths = {len(v) for v in scores.values()}
    if len(lengths) != 1:
        counts = {d: len(v) for d, v in scores.items()}
        raise ValueError(f"dimensions scored different numbers of rows: {counts}")
    totals: list[Score] = []
    for i in range(lengths.pop()):
        row = {d: v[i] for d, v in scores.items()}
        if not any(present(s) for s in row.values()):
            totals.append(None)
            continue
        totals.append(sum(weights.get(d, 0.0) * s for d, s in row.items() if s is not None and present(s)))
    return Aggregate(
        totals=totals,
        unscored=sum(t is None for t in totals),
        stats={d: _stats(v) for d, v in scores.items()},
    )


def row_total(scores: Mapping[str, Score], weights: Mapping[str, float]) -> Score:
    """`aggregate` for a single row."""
    return aggregate({d: [s] for d, s in scores.items()}, weights).totals[0]
