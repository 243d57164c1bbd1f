"""The numbers evaluation reports: answer accuracy, unbiased pass@k, and mean reward per dimension.

Undecided rows (a verifier that could not judge: unreadable reference, sandbox failure) are left out of
every denominator and counted, never scored as wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reward import Verdict, aggregate


@dataclass(frozen=True)
class Accuracy:
    value: float | None  # None when no row could be judged
    decided: int
    undecided: int


def accuracy(verdicts: Sequence[Verdict], threshold: float = 1.0) -> Accuracy:
    """Fraction of judged rows scoring at least `threshold` (1.0: fully correct, every test passed)."""
    decided = [v.score for v in verdicts if v.score is not None]
    value = sum(s >= threshold for s in decided) / len(decided) if decided else None
    return Accuracy(value, len(decided), len(verdicts) - len(decided))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k samples drawn from n (c of them correct) is correct.

    Chen et al. 2021's unbiased estimator 1 - C(n-c, k) / C(n, k), written as a product of ratios because
    the binomials themselves overflow floats for the n (hundreds) people sample at.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float | None:
    """pass@k averaged over problems given as (samples judged, samples correct); those with fewer than k
    judged samples cannot be estimated and are left out."""
    return mean_judged(pass_at_k_per_problem(counts, k))


def reported_ks(samples: int) -> list[int]:
    """The k of pass@k worth reporting for `samples` draws per problem: the usual 5/10/100 below it, and itself."""
    if samples < 2:
        return []
    return sorted({k for k in (5, 10, 100) if k < samples} | {samples})


def reward_means(scores: Sequence[Mapping[str, float | None]], dimensions: Sequence[str]) -> dict[str, float | None]:
    """Mean score per dimension over rows, plus `total`: the mean of each row's unweighted total by
    `reward.aggregate`, the rule GRPO trains with."""
    return {name: mean_judged(column) for name, column in reward_per_problem(scores, dimensions).items()}


def reward_per_problem(
    scores: Sequence[Mapping[str, float | None]], dimensions: Sequence[str]
) -> dict[str, list[float | None]]:
    """Each row's score per dimension and its `total` (None where missing), the values behind reward_means."""
    columns = {d: [row.get(d) for row in scores] for d in dimensions}
    result = aggregate(columns, dict.fromkeys(dimensions, 1.0))
    return {**{d: columns[d] for d in dimensions if d in result.stats}, "total": list(result.totals)}


def correct_per_problem(verdicts: Sequence[Verdict], threshold: float = 1.0) -> list[float | None]:
    """1.0 / 0.0 per judged row (score at least `threshold`), None where undecided: accuracy's values."""
    return [None if v.score is None else float(v.score >= threshold) for v in verdicts]


def pass_at_k_per_problem(counts: Sequence[tuple[int, int]], k: int) -> list[float | None]:
    """Each problem's pass@k from its (judged, correct) samples; None with fewer than k judged."""
    return [pass_at_k(n, c, k) if n >= k else None for n, c in counts]


def mean_judged(values: Sequence[float | None]) -> float | None:
    """Mean of the values that were judged (not None, not NaN); None when none was."""
    judged = [v for v in values if v is not None and not math.isnan(v)]
    return sum(judged) / len(judged) if judged else None


def sample_counts(verdicts: Sequence[Verdict], threshold: float = 1.0) -> tuple[int, int]:
    """(judged, correct) among one problem's samples: the n and c of pass@k."""
    decided = [v.score for v in verdicts if v.score is not None]
    return len(decided), sum(s >= threshold for s in decided)
