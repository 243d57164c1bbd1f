"""The report's per-group section: every suite broken down by a row column (eval.json `by_group`,
`group_changes`), so that a group a stage made worse shows even when the suite as a whole rose."""

from __future__ import annotations

from typing import Any

from align.evaluation.group_table import GROUP_CHANGE_HEADERS, GROUP_HEADERS, WORSE, group_change_rows, group_rows
from align.report.markdown import table


def groups_section(results: dict[str, Any] | None) -> str:
    rows = group_rows(results) if results else []
    if not results or not rows:
        return ""
    changes = group_change_rows(results)
    flagged = sum(row[-1] == WORSE for row in changes)
    columns = ", ".join(f"`{c}`" for c in (results.get("settings") or {}).get("group_by") or [])
    parts = [
        "## Evaluation by group",
        f"Each suite broken down by the row column{'s' if ',' in columns else ''} {columns} where its rows carry "
        "it. A cell is the policy's value on the group's problems (right / judged for right-or-wrong metrics) "
        f"and its change from the policy it started from; {WORSE} marks a change whose whole 95 % interval lies "
        "below zero. With many groups and stages some flags are chance (about one unchanged group in 40): a "
        "flag is a reason to look again, not a verdict.",
        table([*GROUP_HEADERS, *results["models"]], rows),
    ]
    if changes:
        parts.append(
            f"Changes within each group, paired on its problems ({flagged} flagged):\n\n"
            + table(GROUP_CHANGE_HEADERS, changes)
        )
    return "\n\n".join(parts)
