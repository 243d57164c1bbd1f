"""Every suite broken down by a row column (`level`, `kind`, or any column its rows carry): how many problems each
group holds, each policy's metric there with its interval, and each stage-to-stage change there, paired on the
group's problems and flagged when it is negative outside noise. An overall gain can hide a group that fell (DPO
on mostly-subtraction pairs: one-digit sums 93 -> 83 of 100 while the whole set rose); this is where it shows.

The statistics are those of the whole suite (`align.evaluation.stats`) on the group's problems only, clustered by
problem key where the suite has keys. A change is flagged `worse` when its whole 95 % interval lies below zero.
Many groups times many changes are many tests: at 95 % about one unchanged group in 40 is flagged by chance, so
a flag is a reason to look (and to re-measure), not a verdict.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

from align.data.groups import group_name, grouped
from align.evaluation.stats import (
    BINARY_METRICS,
    Clusters,
    is_judged,
    mean_interval,
    paired_change,
    paired_results,
)


def group_labels(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    """The suite result's `groups`: each of `columns` that every row carries, with its value for each row."""
    return {c: [row[c] for row in rows] for c in columns if rows and all(row.get(c) is not None for row in rows)}


def members(labels: Sequence[Any]) -> dict[str, list[int]]:
    """The problems (indexes) of each group, groups in value order."""
    return {group_name(labels[idx[0]]): idx for idx in grouped(range(len(labels)), labels.__getitem__).values()}


def _subset(values: Sequence[Any], indexes: list[int]) -> list[Any]:
    return [values[i] for i in indexes]


def _clusters(clusters: Clusters, indexes: list[int]) -> Clusters:
    return None if clusters is None else _subset(clusters, indexes)


def add_group_statistics(results: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Add `by_group` to every suite result with `groups` labels, and `group_changes` to `results`."""
    for name, entry in results["models"].items():
        for suite, result in entry.get("suites", {}).items():
            per_problem = result.get("per_problem") or {}
            by_group = {
                column: {
                    group: _group_summary(result, indexes, seed, (name, suite, column, group))
                    for group, indexes in members(labels).items()
                }
                for column, labels in (result.get("groups") or {}).items()
                if all(len(values) == len(labels) for values in per_problem.values())
            }
            if by_group:
                result["by_group"] = by_group
    results["group_changes"] = list(_group_changes(results["models"], seed))
    return results


def _group_summary(result: dict[str, Any], indexes: list[int], seed: int, labels: tuple[str, ...]) -> dict[str, Any]:
    """A group's problem count and, per metric, the judged problems, the mean over them and its interval."""
    summary: dict[str, Any] = {"n": len(indexes), "metrics": {}, "judged": {}, "intervals": {}}
    clusters = _clusters(result.get("clusters"), indexes)
    for metric, values in (result.get("per_problem") or {}).items():
        mine = _subset(values, indexes)
        judged = [v for v in mine if is_judged(v)]
        summary["judged"][metric] = len(judged)
        summary["metrics"][metric] = sum(judged) / len(judged) if judged else None
        interval = mean_interval(mine, clusters=clusters, seed=seed, labels=(*labels, metric))
        if interval is not None:
            summary["intervals"][metric] = list(interval)
    return summary


def _group_changes(models: dict[str, Any], seed: int) -> Iterator[dict[str, Any]]:
    for pair in paired_results(models):
        earlier_labels = pair.earlier.get("groups") or {}
        for column, labels in (pair.result.get("groups") or {}).items():
            if earlier_labels.get(column) != labels or len(labels) != len(pair.after):
                continue  # the groups of other problems: nothing to pair
            for group, indexes in members(labels).items():
                change = paired_change(
                    _subset(pair.before, indexes),
                    _subset(pair.after, indexes),
                    binary=pair.metric in BINARY_METRICS,
                    clusters=_clusters(pair.clusters, indexes),
                    seed=seed,
                    labels=(pair.against, pair.model, pair.suite, pair.metric, column, group),
                )
                if change is not None:
                    where = {"model": pair.model, "against": pair.against, "suite": pair.suite, "metric": pair.metric}
                    yield where | {"column": column, "group": group} | asdict(change) | {"worse": change.high < 0}
