"""Fixtures for evaluation and report tests: a few math problems with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROBLEMS = [(2, 3), (4, 4), (7, 1), (6, 2)]


@pytest.fixture
def math_file(tmp_path: Path) -> Path:
    rows = [{"prompt": f"What is {a} + {b}? Answer with \\boxed{{N}}.", "answer": str(a + b)} for a, b in PROBLEMS]
    path = tmp_path / "math-eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
