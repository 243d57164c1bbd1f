"""Shared by the data generators (math/build.py, code/procedural.py): split problem keys three ways, check that
no key landed in two splits, and write the splits as JSON lines.

A *key* names a problem apart from its wording ("7+5", "add:7"); splitting keys, not rows, is what keeps eval
facts out of training whatever the phrasing.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

K = TypeVar("K")


class Keyed(Protocol):
    key: str


def split_keys(keys: Sequence[K], rng: random.Random, sizes: dict[str, int], rest: str) -> dict[str, list[K]]:
    """The keys shuffled by `rng`, then cut in order: `sizes[name]` keys for each name, the remainder to `rest`."""
    shuffled = list(keys)
    rng.shuffle(shuffled)
    cuts: dict[str, list[K]] = {}
    start = 0
    for name, size in sizes.items():
        cuts[name] = shuffled[start : start + size]
        start += size
    cuts[rest] = shuffled[start:]
    return cuts


def check_keys_disjoint(label: str, splits: dict[str, Sequence[Keyed]]) -> None:
    """Fail if a problem key occurs in two splits, in any wording."""
    keys = {name: {p.key for p in problems} for name, problems in splits.items()}
    for first, second in itertools.combinations(sorted(keys), 2):
        overlap = keys[first] & keys[second]
        if overlap:
            raise AssertionError(f"{label}: keys in both {first} and {second}: {sorted(overlap)[:5]}")


def render(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_splits(build: Callable[[], dict[str, list[dict[str, Any]]]], out_dir: Path) -> None:
    for name, rows in build().items():
        (out_dir / f"{name}.jsonl").write_text(render(rows), encoding="utf-8")
        print(f"{name}.jsonl: {len(rows)} rows")
