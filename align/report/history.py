"""A stage's training log (the Trainer's `log_history`) and the curves in it.

Read from `<stage>/log_history.json`, which finished stages write; an interrupted stage has only its newest
checkpoint's `trainer_state.json`, which holds the same list up to that checkpoint.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from align.artifacts.contract import CHECKPOINTS, LOG_HISTORY, read_json_artifact

_DIMENSION = re.compile(r"^rewards/(?P<name>[^/]+)/mean$")

Curve = tuple[list[float], list[float]]  # (steps, values)


def read_log_history(stage_dir: Path) -> list[dict[str, Any]]:
    path = stage_dir / LOG_HISTORY
    if not path.is_file():
        states = sorted(
            (stage_dir / CHECKPOINTS).glob("checkpoint-*/trainer_state.json"),
            key=lambda p: int(p.parent.name.rsplit("-", 1)[-1]),
        )
        if not states:
            return []
        path = states[-1]
    data = read_json_artifact(path)
    history = data.get("log_history", []) if isinstance(data, dict) else data
    return [entry for entry in history if isinstance(entry, dict)]


def curve(history: list[dict[str, Any]], key: str) -> Curve:
    points = [(e.get("step", i), e[key]) for i, e in enumerate(history) if isinstance(e.get(key), int | float)]
    return [float(s) for s, _ in points], [float(v) for _, v in points]


def logged_keys(history: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for entry in history for k in entry))


def dimension_keys(history: list[dict[str, Any]]) -> dict[str, str]:
    """GRPO's per-reward-function means, `rewards/<dimension>/mean`, by dimension name."""
    return {m["name"]: key for key in logged_keys(history) if (m := _DIMENSION.match(key))}


def reward_keys(history: list[dict[str, Any]]) -> list[str]:
    """Overall reward curves: `reward` (GRPO) or `rewards/chosen`, `rewards/margins`, ... (DPO); spreads
    (`*_std`, `*/std`) are drawn as bands around their mean, per-dimension means get their own plot."""
    dimensions = set(dimension_keys(history).values())
    return [
        key
        for key in logged_keys(history)
        if key.startswith(("rewards/", "reward")) and key not in dimensions and not key.endswith(("_std", "/std"))
    ]


def spread_key(history: list[dict[str, Any]], key: str) -> str | None:
    """The logged std that goes with a mean: `reward` → `reward_std`, `rewards/x/mean` → `rewards/x/std`."""
    candidate = key[: -len("/mean")] + "/std" if key.endswith("/mean") else key + "_std"
    return candidate if candidate in logged_keys(history) else None
