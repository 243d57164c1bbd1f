"""Instruction-following verifier: does an answer meet the row's code-checkable constraints ("under 40 words",
"no commas", "end with 'Stay safe.'")?

Rows are in google/IFEval's format: `prompt`, `instruction_id_list` (constraint types) and `kwargs` (one dict of
arguments per type). The checks are if-verifiable's IFEval and IFBench checkers, strict (the answer as written)
and loose (IFEval's variants: first or last line dropped, markdown asterisks removed). Two verdict rules:
`ifeval` scores the share of constraints met strictly; `ifeval_all` scores 1 only when all are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reward.result import Verdict
from reward.verifiers.ifeval_checkers import registry, unavailable


@dataclass(frozen=True)
class ConstraintResult:
    """One constraint of a row, judged on one answer."""

    instruction_id: str
    strict: bool
    loose: bool


def check_constraints(completion: str, row: Mapping[str, Any]) -> list[ConstraintResult]:
    """Every constraint of `row` judged on `completion`, in the row's order. Raises ValueError for a row whose
    constraints cannot be checked here (`check_ifeval_row` says so at validation)."""
    from if_verifiable.common import evaluate_instructions

    problem = check_ifeval_row(row)
    if problem is not None:
        raise ValueError(problem)
    ids = list(row["instruction_id_list"])
    results, _ = evaluate_instructions(
        response=completion,
        instruction_id_list=ids,
        kwargs_list=[dict(k or {}) for k in row["kwargs"]],
        prompt=_prompt_text(row["prompt"]),
        instruction_registry=registry(),
    )
    if not results:
        # if-verifiable returns no per-constraint results for an empty answer; an empty answer meets none.
        return [ConstraintResult(i, False, False) for i in ids]
    return [ConstraintResult(r.instruction_id, r.strict_pass, r.loose_pass) for r in results]


def check_ifeval_row(row: Mapping[str, Any]) -> str | None:
    """Why this row's constraints cannot be checked (unknown type, NLTK data missing, malformed kwargs), or None."""
    ids, kwargs = row.get("instruction_id_list"), row.get("kwargs")
    if not isinstance(ids, list | tuple) or not ids:
        return "'instruction_id_list' must be a non-empty list of constraint types"
    if not isinstance(kwargs, list | tuple) or len(kwargs) != len(ids):
        return f"'kwargs' must be a list of {len(ids)} argument dicts, one per constraint"
    for instruction_id in ids:
        problem = unavailable(str(instruction_id))
        if problem is not None:
            return problem
    return None


def verify_ifeval_rows(completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    """The share of the row's constraints the answer meets strictly (partial credit for GRPO and pairs)."""
    return [_verdict(c, row, all_or_nothing=False) for c, row in zip(completions, rows, strict=True)]


def verify_ifeval_all_rows(completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    """1.0 when the answer meets every constraint strictly, else 0.0 (IFEval's prompt-level strict accuracy)."""
    return [_verdict(c, row, all_or_nothing=True) for c, row in zip(completions, rows, strict=True)]


def _verdict(completion: str, row: Mapping[str, Any], all_or_nothing: bool) -> Verdict:
    try:
        results = check_constraints(completion, row)
    except ValueError as err:
        return Verdict(None, str(err))
    met = sum(r.strict for r in results)
    missed = [r.instruction_id for r in results if not r.strict]
    reason = f"met {met}/{len(results)} constraints" + (f"; missed {', '.join(missed)}" if missed else "")
    if all_or_nothing:
        return Verdict(float(met == len(results)), reason)
    return Verdict(met / len(results), reason)


def _prompt_text(prompt: Any) -> str:
    """Checkers that repeat the prompt need its text; stages hand rows over with the prompt as a chat."""
    if isinstance(prompt, str):
        return prompt
    users = [m for m in prompt if m.get("role") == "user"]
    return str(users[-1].get("content", "")) if users else ""
