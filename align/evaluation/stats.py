"""Error bars for evaluation: a 95 % interval on every metric and a paired test for every stage-to-stage change.

Suites store one value per problem for each metric (`per_problem`: 1/0 correctness, a problem's pass@k
estimate, its reward score; None where it could not be judged). From those:

- the interval of a metric is a percentile bootstrap of the mean over problems (problems resampled with
  replacement, RESAMPLES times), seeded from the evaluation seed and the metric's name, so the same results
  give the same interval on every machine;
- a change between two policies pairs them on the problems both were judged on. Its interval is the paired
  bootstrap of the mean difference (the same resampled problems for both policies, which removes the
  between-problem spread the two share). Its p-value is exact McNemar for binary correctness — only the
  discordant problems carry evidence, and under "no change" each is equally likely to go either way — and
  the two-sided paired-bootstrap p-value for the rest (pass@k, mean reward).

Problems may come in clusters (`clusters`: one label per problem, e.g. the math eval's problem key asked
in several wordings). Answers within a cluster are not independent, so then the bootstrap resamples whole
clusters, and binary changes get Durkalski et al.'s (2003) clustered McNemar test — (Σ b_i − c_i)² / Σ (b_i −
c_i)², chi-square with 1 df, which is McNemar's statistic when every cluster is one problem — instead of the
exact test, which assumes independent problems.

Percentile intervals of a proportion that is 0 or 1 on every problem collapse to a point; read them with n.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from align.evaluation.textstats import FLAG_METRICS

RESAMPLES = 2000
LEVEL = 0.95
# Metrics whose per-problem values are one 0/1 verdict on one answer (right or wrong; says yes or not): McNemar
# applies.
BINARY_METRICS = frozenset({"accuracy", "pass@1", "prompt_strict", "prompt_loose", *FLAG_METRICS})

Values = Sequence[float | None]
Clusters = Sequence[str] | None


@dataclass(frozen=True)
class Change:
    """`after - before` on the problems both policies were judged on."""

    before: float
    after: float
    diff: float
    low: float
    high: float
    p: float
    test: str  # "McNemar exact", "clustered McNemar" or "paired bootstrap"
    n: int  # problems paired
    improved: int | None = None  # binary metrics: problems wrong before and right after
    worsened: int | None = None  # ... and right before, wrong after


def _rng(seed: int, labels: Sequence[str]) -> np.random.Generator:
    # One stream per label (what the interval is of), not one for the whole report: an interval then does not
    # move when another metric is added or evaluated in a different order.
    return np.random.default_rng([seed, *(zlib.crc32(label.encode()) for label in labels)])


def _bounds(means: np.ndarray, level: float) -> tuple[float, float]:
    # Percentile bounds rather than mean ± z·sd: accuracies near 0 or 1 have skewed resampled means, and a
    # symmetric interval would run past [0, 1].
    tail = (1.0 - level) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _resampled_means(
    values: np.ndarray, groups: Sequence[str] | None, rng: np.random.Generator, resamples: int
) -> np.ndarray:
    """Means of `values` over `resamples` bootstrap draws: of the values, or of whole groups when given."""
    if groups is None:
        picks = rng.integers(0, len(values), size=(resamples, len(values)))
        return values[picks].mean(axis=1)
    # Problems of one group (variants of one template, tests of one task) are not independent: resampling whole
    # groups keeps their correlation, so the interval is not narrower than the data can support.
    index = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    members = np.array([index[g] for g in groups])
    sums = np.bincount(members, weights=values, minlength=len(index))
    counts = np.bincount(members, minlength=len(index)).astype(float)
    picks = rng.integers(0, len(index), size=(resamples, len(index)))
    # Ratio of resampled sums, not a mean of group means: a big group weighs as many problems as it holds.
    return sums[picks].sum(axis=1) / counts[picks].sum(axis=1)


def _check_clusters(values: Values, clusters: Clusters) -> None:
    if clusters is not None and len(clusters) != len(values):
        raise ValueError(f"clusters must label every problem: {len(clusters)} labels for {len(values)} problems")


def mean_interval(
    values: Values,
    *,
    clusters: Clusters = None,
    seed: int = 0,
    labels: Sequence[str] = (),
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of the mean of the judged values; None when none was judged."""
    _check_clusters(values, clusters)
    # Unjudged problems (a judge that could not answer) are left out, not scored 0: a missing score is not a
    # wrong answer, and counting it as one would bias every interval down.
    kept = [i for i, v in enumerate(values) if is_judged(v)]
    if not kept:
        return None
    judged = np.array([values[i] for i in kept], dtype=float)
    groups = None if clusters is None else [clusters[i] for i in kept]
    return _bounds(_resampled_means(judged, groups, _rng(seed, labels), resamples), level)


def mcnemar_exact(improved: int, worsened: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of min(b, c) among b + c discordant pairs at 1/2."""
    if improved < 0 or worsened < 0:
        raise ValueError(f"discordant counts must be non-negative, got {improved}, {worsened}")
    # Exact binomial, not the chi-square approximation: evaluation sets are small and the discordant counts
    # often single digits, where the approximation's p-values are badly off.
    discordant = improved + worsened
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, i) for i in range(min(improved, worsened) + 1))
    return min(1.0, 2 * tail / 2**discordant)


def clustered_mcnemar(diffs: Sequence[float], clusters: Sequence[str]) -> float:
    """Durkalski et al. 2003: p of (Σ_i b_i − c_i)² / Σ_i (b_i − c_i)² against chi-square(1), where b_i − c_i
    is cluster i's count of problems fixed minus broken (the sum of its after − before differences)."""
    net: dict[str, float] = {}
    for diff, cluster in zip(diffs, clusters, strict=True):
        net[cluster] = net.get(cluster, 0.0) + diff
    spread = sum(v * v for v in net.values())
    if spread == 0:
        return 1.0
    statistic = sum(net.values()) ** 2 / spread
    return math.erfc(math.sqrt(statistic / 2))  # chi-square(1) survival function


def paired_change(
    before: Values,
    after: Values,
    *,
    binary: bool,
    clusters: Clusters = None,
    seed: int = 0,
    labels: Sequence[str] = (),
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> Change | None:
    """The change from `before` to `after` on the same problems (same order); None when no problem pairs."""
    if len(before) != len(after):
        raise ValueError(f"paired values must cover the same problems, got {len(before)} and {len(after)}")
    _check_clusters(before, clusters)
    kept = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if is_judged(b) and is_judged(a)]
    if not kept:
        return None
    pairs = np.array([(before[i], after[i]) for i in kept], dtype=float)
    groups = None if clusters is None else [clusters[i] for i in kept]
    if groups is not None and len(set(groups)) == len(groups):
        groups = None  # every cluster one problem: the independent-problem methods are the right ones
    diffs = pairs[:, 1] - pairs[:, 0]
    boot = _resampled_means(diffs, groups, _rng(seed, labels), resamples)
    low, high = _bounds(boot, level)
    improved = worsened = None
    if binary:
        improved, worsened = int((diffs > 0).sum()), int((diffs < 0).sum())
        if groups is None:
            p, test = mcnemar_exact(improved, worsened), "McNemar exact"
        else:
            p, test = clustered_mcnemar(diffs.tolist(), groups), "clustered McNemar"
    else:
        # Two-sided percentile p-value: how often resampling puts the mean difference on the other side of 0.
        # The +1s count the observed sample among the resamples, so p is never reported as exactly 0.
        tail = min(int((boot <= 0).sum()), int((boot >= 0).sum()))
        p, test = min(1.0, 2 * (tail + 1) / (resamples + 1)), "paired bootstrap"
    return Change(
        before=float(pairs[:, 0].mean()),
        after=float(pairs[:, 1].mean()),
        diff=float(diffs.mean()),
        low=low,
        high=high,
        p=p,
        test=test,
        n=len(diffs),
        improved=improved,
        worsened=worsened,
    )


@dataclass(frozen=True)
class PairedResult:
    """One metric of one suite for a policy and the policy it started from, on the same problems."""

    model: str
    against: str
    suite: str
    metric: str
    before: Values
    after: Values
    clusters: Clusters
    result: dict[str, Any]  # the policy's suite result
    earlier: dict[str, Any]  # the one it started from


def paired_results(models: dict[str, Any]) -> Iterator[PairedResult]:
    """Every (policy, suite, metric) whose per-problem values pair with those of the policy it started from."""
    for name, entry in models.items():
        before = models.get(entry.get("init") or "")
        if before is None or before is entry:
            continue
        for suite, result in entry.get("suites", {}).items():
            earlier = before.get("suites", {}).get(suite, {})
            old = earlier.get("per_problem") or {}
            clusters = result.get("clusters")
            for metric, values in (result.get("per_problem") or {}).items():
                if metric not in old or len(old[metric]) != len(values) or earlier.get("clusters") != clusters:
                    continue  # evaluated on different problems: nothing to pair
                yield PairedResult(name, entry["init"], suite, metric, old[metric], values, clusters, result, earlier)


def add_statistics(results: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Add `intervals` to every suite result that has per-problem values, and `comparisons` (each policy
    against the one it started from) to `results`; results without per-problem values get neither."""
    models = results["models"]
    for name, entry in models.items():
        for suite, result in entry.get("suites", {}).items():
            per_problem = result.get("per_problem")
            if not per_problem:
                continue
            clusters = result.get("clusters")
            intervals = {
                m: mean_interval(v, clusters=clusters, seed=seed, labels=(name, suite, m))
                for m, v in per_problem.items()
            }
            result["intervals"] = {m: list(i) for m, i in intervals.items() if i is not None}
    comparisons = []
    for pair in paired_results(models):
        change = paired_change(
            pair.before,
            pair.after,
            binary=pair.metric in BINARY_METRICS,
            clusters=pair.clusters,
            seed=seed,
            labels=(pair.against, pair.model, pair.suite, pair.metric),
        )
        if change is not None:
            where = {"model": pair.model, "against": pair.against, "suite": pair.suite, "metric": pair.metric}
            comparisons.append(where | asdict(change))
    comparisons += tool_comparisons(models, seed)
    results["comparisons"] = comparisons
    results["statistics"] = {"level": LEVEL, "resamples": RESAMPLES, "seed": seed}
    return results


def is_judged(value: float | None) -> bool:
    """Whether a per-problem value counts: None (could not be judged) and NaN do not."""
    return value is not None and not math.isnan(value)


def tool_comparisons(models: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Each policy evaluated with tools against itself answering without them, on the same problems (`align eval
    --tools` stores both): one comparison per metric, as "<policy> with tools" against "<policy> without tools"."""
    found = []
    for name, entry in models.items():
        for suite, result in entry.get("suites", {}).items():
            without = (result.get("without_tools") or {}).get("per_problem") or {}
            for metric, values in (result.get("per_problem") or {}).items():
                if metric not in without or len(without[metric]) != len(values):
                    continue
                change = paired_change(
                    without[metric],
                    values,
                    binary=metric in BINARY_METRICS,
                    clusters=result.get("clusters"),
                    seed=seed,
                    labels=(name, suite, metric, "tools"),
                )
                if change is not None:
                    where = {"model": f"{name} with tools", "against": f"{name} without tools", "suite": suite}
                    found.append(where | {"metric": metric} | asdict(change))
    return found
