"""Order prompts by the variance of their group's rewards, as the Qwen2.5 report does for online RL.

A group whose completions all score the same has zero advantage everywhere, so it gives GRPO no gradient: those
prompts are dropped, and the rest are trained on highest-variance first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean, pvariance
from typing import Any


@dataclass(frozen=True)
class PromptSelection:
    order: list[int]  # indices of kept prompts, highest variance first
    variances: list[float | None]  # per candidate prompt; None when fewer than two completions were scored
    dropped_zero_variance: int
    dropped_unscored: int

    def stats(self) -> dict[str, float | int]:
        kept = [v for v in (self.variances[i] for i in self.order) if v is not None]
        return {
            "candidates": len(self.variances),
            "kept": len(self.order),
            "dropped_zero_variance": self.dropped_zero_variance,
            "dropped_unscored": self.dropped_unscored,
            "variance_mean_kept": mean(kept) if kept else 0.0,
            "variance_max": max(kept) if kept else 0.0,
        }


def select_by_variance(
    group_rewards: Sequence[Sequence[float | None]], min_variance: float = 1e-8, keep: int | None = None
) -> PromptSelection:
    variances: list[float | None] = []
    for rewards in group_rewards:
        scored = [r for r in rewards if r is not None]
        variances.append(pvariance(scored) if len(scored) >= 2 else None)
    unscored = sum(v is None for v in variances)
    flat = sum(v is not None and v < min_variance for v in variances)
    usable = {i: v for i, v in enumerate(variances) if v is not None and v >= min_variance}
    # Stable sort: equal variances keep the dataset's order, so runs are reproducible.
    kept = sorted(usable, key=lambda i: -usable[i])
    return PromptSelection(kept[:keep] if keep else kept, variances, flat, unscored)


def per_source(sources: Sequence[int], order: Sequence[int], paths: Sequence[str]) -> list[dict[str, Any]]:
    """Candidates and kept prompts of each prompt source (in `prompts` order), from each candidate's source
    index and the selection's order: a source whose prompts all turn out flat shows here as kept 0."""
    candidates = list(sources)
    kept = [candidates[i] for i in order]
    return [
        {"source": index, "path": path, "candidates": candidates.count(index), "kept": kept.count(index)}
        for index, path in enumerate(paths)
    ]
