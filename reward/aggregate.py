"""Combine per-dimension scores into one reward per row, with missing scores handled on purpose.

For each row: total = Σ w_d · s_d over the dimensions d that scored the row, times W / W_present, where W
is the sum of all weights and W_present the sum over the dimensions present. With every dimension present
this is the plain weighted sum; with some missing, the present weights are scaled up to the same total, so
a row with a missing score stays on the same scale as a complete one instead of sliding towards 0. A row
with no weighted dimension present is unscored: its total is None and it is counted, never turned into 0.
NaN counts as missing too (TRL turns a reward function's None into NaN).

`normalize="group"` z-scores each dimension within each group of `group_size` consecutive rows (GRPO's
completions of one prompt) before the weighted sum, so a dimension with a wide raw range can't drown out
the others. It uses the population std of the scores present in the group; a group whose scores for a
dimension are all equal (or has only one) contributes 0 for it — no signal, not a missing score. This
needs whole groups in the batch; under multi-process GRPO, where a group may be split across processes,
use TRL's `multi_objective_aggregation="normalize_then_sum"` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from reward.dimensions import Dimension, Text

Score = float | None


@dataclass(frozen=True)
class DimensionStats:
    """Raw (pre-normalisation) scores of one dimension over a batch; None fields when nothing scored."""

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


def _present(x: Score) -> bool:
    return x is not None and not math.isnan(x)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _stats(scores: Sequence[Score]) -> DimensionStats:
    present = [s for s in scores if _present(s)]
    if not present:
        return DimensionStats(0, len(scores), None, None, None, None)
    mean, std = _mean_std(present)
    return DimensionStats(len(present), len(scores) - len(present), mean, std, min(present), max(present))


def _zscore_groups(scores: Sequence[Score], group_size: int) -> list[Score]:
    out: list[Score] = []
    for start in range(0, len(scores), group_size):
        group = scores[start : start + group_size]
        present = [s for s in group if _present(s)]
        mean, std = _mean_std(present) if present else (0.0, 0.0)
        for s in group:
            if not _present(s):
                out.append(None)
            else:
                out.append((s - mean) / std if std > 1e-12 else 0.0)
    return out


class Aggregator:
    """Weighted sum of dimension scores; see the module docstring for the None and group rules."""

    def __init__(
        self,
        weights: Mapping[str, float],
        normalize: Literal["none", "group"] = "none",
        group_size: int | None = None,
    ) -> None:
        if not weights or any(w < 0 or math.isnan(w) for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum, got {dict(weights)}")
        if normalize not in ("none", "group"):
            raise ValueError(f"normalize must be 'none' or 'group', got {normalize!r}")
        if (normalize == "group") != (group_size is not None) or (group_size is not None and group_size < 2):
            raise ValueError("normalize='group' needs group_size >= 2; group_size needs normalize='group'")
        self.weights = {d: float(w) for d, w in weights.items() if w > 0}
        self.normalize = normalize
        self.group_size = group_size

    def __call__(self, scores: Mapping[str, Sequence[Score]]) -> Aggregate:
        missing = [d for d in self.weights if d not in scores]
        if missing:
            raise KeyError(f"no scores for weighted dimension(s) {missing}; got {sorted(scores)}")
        lengths = {len(v) for v in scores.values()}
        if len(lengths) != 1:
            counts = {d: len(v) for d, v in scores.items()}
            raise ValueError(f"dimensions scored different numbers of rows: {counts}")
        n = lengths.pop()
        if self.group_size is not None and n % self.group_size:
            raise ValueError(f"{n} rows do not split into whole groups of {self.group_size}")

        used = {d: list(scores[d]) for d in self.weights}
        if self.group_size is not None:
            used = {d: _zscore_groups(v, self.group_size) for d, v in used.items()}

        total_weight = sum(self.weights.values())
        totals: list[Score] = []
        for i in range(n):
            present = {d: used[d][i] for d in self.weights if _present(used[d][i])}
            present_weight = sum(self.weights[d] for d in present)
            if not present:
                totals.append(None)
                continue
            weighted = sum(self.weights[d] * s for d, s in present.items())
            totals.append(weighted * total_weight / present_weight)
        return Aggregate(
            totals=totals,
            unscored=sum(t is None for t in totals),
            stats={d: _stats(v) for d, v in scores.items()},
        )

    def reward_function(self, dimensions: Sequence[Dimension], name: str = "reward") -> AggregateReward:
        return AggregateReward(self, dimensions, name)


class AggregateReward:
    """A TRL reward function that scores every dimension and returns the aggregated totals.

    Pass it to GRPOTrainer alone, or together with the dimensions themselves at reward weight 0 so TRL
    logs each dimension too (model heads share a per-batch cache, so that costs no extra forward pass).
    When TRL passes `log_metric`, the unscored-row count is logged as `<name>/unscored`.
    """

    def __init__(self, aggregator: Aggregator, dimensions: Sequence[Dimension], name: str = "reward") -> None:
        names = [d.name for d in dimensions]
        unknown = sorted(set(aggregator.weights) - set(names))
        if unknown:
            raise ValueError(f"weights name dimension(s) {unknown} that are not among {names}")
        self.aggregator = aggregator
        self.dimensions = list(dimensions)
        self.__name__ = name
        self.last: Aggregate | None = None

    def __call__(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[Score]:
        scores = {d.name: d(prompts, completions, **columns) for d in self.dimensions}
        self.last = self.aggregator(scores)
        log_metric: Callable[[str, float], None] | None = columns.get("log_metric")
        if callable(log_metric):
            log_metric(f"{self.__name__}/unscored", float(self.last.unscored))
        return self.last.totals
