"""Pair building's results, stored one batch of prompts at a time, so a kill costs at most the batch in flight.

Each finished batch is one JSON file under `<stage>/batches/`, renamed into place whole: a file there is a batch
that was sampled, verified and selected completely. A resumed run loads them and samples only the rest; each
batch is seeded from its index, so the resumed result equals an uninterrupted run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FOLDER = "batches"


def batch_path(stage_dir: Path, index: int) -> Path:
    return stage_dir / FOLDER / f"batch-{index:05d}.json"


def load_done(stage_dir: Path) -> dict[int, dict[str, Any]]:
    done = {}
    for path in sorted((stage_dir / FOLDER).glob("batch-*.json")):
        try:
            done[int(path.stem.removeprefix("batch-"))] = json.loads(path.read_text())
        except (ValueError, json.JSONDecodeError):
            continue  # cannot be half written (atomic rename), but a hand-edited file is re-done, not trusted
    return done


def save_batch(stage_dir: Path, index: int, batch: dict[str, Any]) -> None:
    from align.artifacts.contract import write_json_atomic

    write_json_atomic(batch_path(stage_dir, index), batch)


def write_lines_atomic(path: Path, lines: list[str]) -> None:
    """The final pairs.jsonl: whole or absent, never a truncated file a later stage could mistake for all pairs."""
    from align.artifacts.contract import write_text_atomic

    write_text_atomic(path, "".join(lines))
