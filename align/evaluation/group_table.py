"""The per-group results (`by_group`, `group_changes` in eval.json) as rows for the terminal and the report."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from align.evaluation.stats import BINARY_METRICS
from align.evaluation.table import change_cells

WORSE = "▼ worse"  # a change whose whole 95 % interval lies below zero
GROUP_HEADERS = ["suite metric", "group", "n"]
GROUP_CHANGE_HEADERS = ["change", "suite metric", "group", "n", "before → after", "difference [95 % CI]", "p", "flag"]


def _changes(results: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    return {
        (c["model"], c["suite"], c["metric"], c["column"], c["group"]): c for c in results.get("group_changes") or []
    }


def _cell(summary: dict[str, Any], metric: str, change: dict[str, Any] | None) -> str:
    value = summary["metrics"].get(metric)
    if value is None:
        return "—"
    judged = summary["judged"].get(metric, 0)
    text = f"{value:.3f}" + (f" ({round(value * judged)}/{judged})" if metric in BINARY_METRICS else "")
    if change is not None:
        text += f" {change['diff']:+.3f}" + (f" {WORSE}" if change["worse"] else "")
    return text


def group_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per (suite metric, group): its problem count, then each policy's value there (right / judged for
    right-or-wrong metrics) and its change from the policy it started from, flagged when negative outside noise."""
    models = results["models"]
    changes = _changes(results)
    seen: dict[tuple[str, str, str, str], int] = {}
    for entry in models.values():
        for suite, result in entry["suites"].items():
            for column, groups in (result.get("by_group") or {}).items():
                for group, summary in groups.items():
                    for metric in summary["metrics"]:
                        seen.setdefault((suite, metric, column, group), summary["n"])
    rows = []
    for (suite, metric, column, group), n in seen.items():
        cells = []
        for name, entry in models.items():
            summary = ((entry["suites"].get(suite) or {}).get("by_group") or {}).get(column, {}).get(group)
            change = changes.get((name, suite, metric, column, group))
            cells.append(_cell(summary, metric, change) if summary else "—")
        rows.append([f"{suite} {metric}", f"{column} = {group}", str(n), *cells])
    return rows


def group_change_rows(results: dict[str, Any], only_worse: bool = False) -> list[list[str]]:
    """One row per stage-to-stage change within a group, paired on the group's problems."""
    rows = []
    for c in results.get("group_changes") or []:
        if only_worse and not c["worse"]:
            continue
        rows.append(
            [
                f"{c['against']} → {c['model']}",
                f"{c['suite']} {c['metric']}",
                f"{c['column']} = {c['group']}",
                str(c["n"]),
                *change_cells(c),
                WORSE if c["worse"] else "",
            ]
        )
    return rows


def group_tables(results: dict[str, Any]) -> list[Table]:
    """For the terminal: every group's values, and the changes flagged worse (all of them are in eval.json)."""
    rows = group_rows(results)
    if not rows:
        return []
    values = Table(title="by group (right / judged; change from the policy each started from)", title_justify="left")
    for header in [*GROUP_HEADERS, *results["models"]]:
        values.add_column(header, justify="left" if header in GROUP_HEADERS[:2] else "right")
    for row in rows:
        values.add_row(*row)
    tables = [values]
    worse = group_change_rows(results, only_worse=True)
    if worse:
        flagged = Table(title="groups that fell outside noise (95 % interval below 0)", title_justify="left")
        for header in GROUP_CHANGE_HEADERS:
            flagged.add_column(header)
        for row in worse:
            flagged.add_row(*row)
        tables.append(flagged)
    return tables
