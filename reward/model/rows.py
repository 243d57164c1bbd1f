"""Training rows for the reward model, checked before any model is loaded.

Two row shapes (extra keys are ignored):
- a preference pair labelled with the dimension it differs on:
  {"prompt", "chosen", "rejected", "dimension"}
- a response rated on some dimensions, each rating in [0, 1]:
  {"prompt", "completion", "ratings": {dimension: rating, ...}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reward.jsonl import read_jsonl

Rows = Iterable[Mapping[str, Any]] | str | Path


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    dimension: int  # index into the model's dimensions


@dataclass(frozen=True)
class Rated:
    prompt: str
    completion: str
    ratings: dict[int, float]  # dimension index -> rating in [0, 1]


def _text(row: Mapping[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    return value


def _unit_interval(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def parse_rows(rows: Rows, dimensions: Sequence[str], name: str = "rows") -> list[Pair | Rated]:
    """Validate rows (a list of dicts or a JSONL path) into Pairs and Rated rows; errors name the row."""
    if isinstance(rows, str | Path):
        name, rows = str(rows), read_jsonl(rows)
    index = {d: i for i, d in enumerate(dimensions)}
    parsed: list[Pair | Rated] = []
    for number, row in enumerate(rows):
        where = f"{name} row {number}"
        if not isinstance(row, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(row).__name__}")
        prompt = _text(row, "prompt", where)
        if "ratings" in row:
            ratings = row["ratings"]
            if not isinstance(ratings, Mapping) or not ratings:
                raise ValueError(f"{where}: 'ratings' must be a non-empty object")
            bad = [d for d, r in ratings.items() if d not in index or not _unit_interval(r)]
            if bad:
                raise ValueError(f"{where}: ratings {bad} are not known dimensions with values in [0, 1]")
            rated = {index[d]: float(r) for d, r in ratings.items()}
            parsed.append(Rated(prompt, _text(row, "completion", where), rated))
            continue
        dimension = row.get("dimension")
        if dimension not in index:
            raise ValueError(f"{where}: 'dimension' must be one of {list(dimensions)}, got {dimension!r}")
        chosen, rejected = _text(row, "chosen", where), _text(row, "rejected", where)
        parsed.append(Pair(prompt, chosen, rejected, index[dimension]))
    return parsed
