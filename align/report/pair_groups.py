"""The pairs section's per-group table: where a balanced pairs stage's pairs came from (stats.json `groups`)."""

from __future__ import annotations

from typing import Any

from align.report.markdown import table


def pair_groups_text(by: str, groups: dict[str, dict[str, Any]]) -> str:
    total = sum(counts.get("pairs", 0) for counts in groups.values()) or 1
    rows = [
        [
            group,
            counts.get("prompts"),
            f"{counts.get('pass_rate', 0.0):.2f}",
            counts.get("prompts_with_pairs"),
            counts.get("pairs_built"),
            counts.get("pairs"),
            counts.get("pairs_from_solved", 0),
            f"{counts.get('pairs', 0) / total:.0%}",
        ]
        for group, counts in groups.items()
    ]
    headers = [by, "prompts", "pass rate", "prompts with pairs", "pairs built", "pairs written"]
    headers += ["from solved prompts", "share of pairs"]
    return (
        f"Pairs by `{by}` (a group whose share of the pairs is small is one DPO may unlearn; `balance` in the "
        "pairs stage caps the others; `solved_prompts` makes pairs where every sample passed):\n\n"
        + table(headers, rows)
    )
