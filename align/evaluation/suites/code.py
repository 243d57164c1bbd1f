"""Code: pass@1 (greedy) and pass@k (sampled) on held-out problems, run in the sandbox.

The problems are the shipped procedural set `data/code/eval.jsonl` (built by data/code/procedural.py; its
problem kinds and parameters never occur in the training files) unless `--code-data` names another:
`humaneval:eval` (HumanEval's held-out split, for real models), or any file with `prompt`, `tests` and
optionally `entry_point` and `code_prompt`.

A sample passes when every check of the problem's tests passes. Runs the sandbox could not judge
(sandbox errors) are counted as undecided and left out, never scored as failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from align.config.load import shipped_dirs
from align.config.paths import resolve_data_path
from align.config.schema import DataSpec
from align.data.load import HUMANEVAL_PREFIX, humaneval_rows, load_rows
from align.evaluation.groups import group_labels
from align.evaluation.metrics import (
    accuracy,
    correct_per_problem,
    mean_pass_at_k,
    pass_at_k_per_problem,
    reported_ks,
    sample_counts,
)
from align.evaluation.settings import EvalSettings
from align.evaluation.suites.base import Chat, PreparedSuite, SuiteUnavailableError, as_chat, examples
from align.runtime.errors import AlignError
from reward import get_verifier

DEFAULT_DATA = "data/code/eval.jsonl"
MAX_NEW_TOKENS = 384


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: Chat
    code_prompt: str  # signature and docstring the completion continues
    tests: str
    entry_point: str | None
    key: str | None = None  # problems sharing a key ask the same thing in other words (statistics group them)


def load_problems(data: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """The rows and where they came from. HumanEval rows are worded exactly as the pairs and GRPO stages see
    `humaneval:pairs`, so a trained policy is measured on the request format it learned."""
    if data is not None and data.startswith(HUMANEVAL_PREFIX):
        try:
            split = data.removeprefix(HUMANEVAL_PREFIX)
            return humaneval_rows(split), f"HumanEval ({split} split)"
        except AlignError as err:
            raise SuiteUnavailableError(str(err)) from None
    try:
        path = resolve_data_path(data or DEFAULT_DATA, [Path.cwd(), *shipped_dirs()])
    except ValueError as err:
        if data is None:
            raise SuiteUnavailableError(f"no held-out code set ({DEFAULT_DATA} not found); pass --code-data") from None
        raise AlignError(f"--code-data: {err}") from None
    rows = load_rows(DataSpec(path=path))
    for index, row in enumerate(rows):
        missing = [c for c in ("prompt", "tests") if not row.get(c)]
        if missing:
            raise AlignError(f"{path}: row {index + 1}: missing column(s) {', '.join(missing)}")
    return rows, path


def problem(row: Mapping[str, Any]) -> Problem:
    return Problem(
        str(row.get("task_id", "")),
        as_chat(row["prompt"]),
        row.get("code_prompt") or "",
        row["tests"],
        row.get("entry_point"),
        None if row.get("key") is None else str(row["key"]),
    )


def prepare(settings: EvalSettings) -> PreparedSuite:
    rows, source = load_problems(settings.code_data)
    rows = rows[: settings.limit]
    problems = [problem(row) for row in rows]
    groups = group_labels(rows, settings.group_by)
    if not problems:
        raise SuiteUnavailableError(f"{source}: no problems")
    keys = [p.key for p in problems]
    clusters = keys if all(k is not None for k in keys) else None

    def score(greedy: list[str], sampled: list[list[str]] | None) -> dict:
        k = len(sampled[0]) if sampled else 0
        answers = [
            (text, {"tests": p.tests, "entry_point": p.entry_point, "code_prompt": p.code_prompt})
            for p, first, rest in zip(problems, greedy, sampled or [[] for _ in problems], strict=True)
            for text in (first, *rest)
        ]
        # One batch for greedy and sampled answers keeps every sandbox worker busy.
        flat = get_verifier("code").verify_batch([t for t, _ in answers], [row for _, row in answers])
        per_problem = [flat[i * (k + 1) : (i + 1) * (k + 1)] for i in range(len(problems))]
        greedy_verdicts = [verdicts[0] for verdicts in per_problem]
        greedy_pass = accuracy(greedy_verdicts)
        metrics = {"pass@1": greedy_pass.value}
        values = {"pass@1": correct_per_problem(greedy_verdicts)}
        if sampled is not None:
            counts = [sample_counts(verdicts[1:]) for verdicts in per_problem]
            metrics |= {f"pass@{j}": mean_pass_at_k(counts, j) for j in reported_ks(k)}
            values |= {f"pass@{j}": pass_at_k_per_problem(counts, j) for j in reported_ks(k)}
        return {
            "metrics": metrics,
            "per_problem": values,
            **({"clusters": clusters} if clusters else {}),
            **({"groups": groups} if groups else {}),
            "n": len(problems),
            "undecided": greedy_pass.undecided,
            "examples": examples(
                [p.prompt for p in problems],
                greedy,
                task_id=[p.task_id for p in problems],
                passed=[v.score == 1.0 for v in greedy_verdicts],
                reason=[v.reason for v in greedy_verdicts],
            ),
        }

    return PreparedSuite(
        "code",
        [p.prompt for p in problems],
        score,
        settings.max_new_tokens or MAX_NEW_TOKENS,
        source,
        rows=rows,
    )
