"""Pairs that cover every group of a prompt column (`balance` in a pairs stage).

Left alone, pairs come from wherever the policy fails: on the shipped math prompts that is mostly subtraction,
and DPO on those pairs learned subtraction and unlearned one-digit sums. Balancing deals the prompts out one
group at a time (the mechanism of `interleave_by`), can cap the prompts and the pairs of each group, and counts
everything per group in stats.json, so a lopsided pair mix is visible before DPO trains on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from align.config.schema import PairBalance
from align.data.groups import dealt, group_name, grouped

# pair_stats of the stage: (prompts' stored results, pairs written from each) -> their stats.json counts.
Summary = Callable[[Sequence[dict[str, Any]], Sequence[Sequence[dict[str, Any]]]], dict[str, Any]]


def balanced_prompts(rows: list[dict[str, Any]], balance: PairBalance | None) -> list[dict[str, Any]]:
    """The prompts to sample: dealt out one group at a time, at most `prompts_per_group` of each."""
    if balance is None:
        return rows
    groups = grouped(rows, lambda row: row[balance.by]).values()
    return dealt([group[: balance.prompts_per_group] for group in groups])


def kept_pairs(
    prompts: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], balance: PairBalance | None
) -> list[list[dict[str, Any]]]:
    """Each prompt's pairs that `pairs_per_group` keeps (all of them without a quota).

    A full group takes one pair per prompt in turn, in prompt order, so the quota keeps as many different
    prompts as it can rather than every pair of the first few."""
    built = [list(p["pairs"]) for p in prompts]
    if balance is None or balance.pairs_per_group is None:
        return built
    chosen: set[tuple[int, int]] = set()
    for members in grouped(range(len(built)), lambda i: rows[i][balance.by]).values():
        turns = dealt([[(i, j) for j in range(len(built[i]))] for i in members])
        chosen.update(turns[: balance.pairs_per_group])
    # In each prompt's own order, so pairs.jsonl lists a prompt's pairs as selection ranked them.
    return [[pair for j, pair in enumerate(pairs) if (i, j) in chosen] for i, pairs in enumerate(built)]


def group_stats(
    prompts: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    kept: Sequence[Sequence[dict[str, Any]]],
    balance: PairBalance,
    summary: Summary,
) -> dict[str, Any]:
    """stats.json's `groups`: the stage's counts for the prompts of each group, plus the pairs built there
    before the quota (`pairs_built`) next to those written (`pairs`)."""
    members = grouped(range(len(prompts)), lambda i: rows[i][balance.by])
    per_group = {}
    for indexes in members.values():
        value = rows[indexes[0]][balance.by]
        counts = summary([prompts[i] for i in indexes], [kept[i] for i in indexes])
        counts["pairs_built"] = sum(len(prompts[i]["pairs"]) for i in indexes)
        per_group[group_name(value)] = counts
    return {"by": balance.by, "groups": per_group}


def pairs_per_group(stats: dict[str, Any]) -> dict[str, Any]:
    """The manifest's `pairs_per_group` (pairs written per group), or nothing when the stage was not balanced."""
    groups = stats.get("groups")
    return {"pairs_per_group": {group: counts["pairs"] for group, counts in groups.items()}} if groups else {}
