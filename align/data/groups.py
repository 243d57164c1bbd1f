"""Rows grouped by the value of one column (a difficulty `level`, a problem `kind`): for dealing prompts out
one group at a time, for per-group quotas, and for per-group results.

One ordering everywhere: numbers first by value (level 2 before level 10, -9 before -5), then anything else by its
text, so the groups of a file, of stats.json and of eval.json always read in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
GroupKey = tuple[int, float, str]


def group_order(value: object) -> GroupKey:
    """The sort key of a group's value."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def group_name(value: object) -> str:
    """A group's value as a JSON object key: level 3 is "3"."""
    return str(value)


def grouped(items: Iterable[T], value: Callable[[T], object]) -> dict[GroupKey, list[T]]:
    """The items by `value(item)`, groups in sorted order of their value, input order within a group."""
    groups: dict[GroupKey, list[T]] = {}
    for item in items:
        groups.setdefault(group_order(value(item)), []).append(item)
    return {key: groups[key] for key in sorted(groups)}


def dealt(groups: Iterable[Sequence[T]]) -> list[T]:
    """Round-robin over the groups: the first of each, then the second of each, ...; a prefix holds every group."""
    lists = [group for group in groups if group]
    return [group[i] for i in range(max(map(len, lists), default=0)) for group in lists if i < len(group)]
