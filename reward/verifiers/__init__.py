"""Verifiers: check completions against a row's reference answer or tests and return one `Verdict` each.

The registry below is the one place that says which verifiers exist and which dataset columns each needs;
pair building, GRPO rewards, evaluation and `align validate` all read it. A new verifier is one module with a
batch function `(completions, rows) -> list[Verdict]` plus one `VERIFIERS` line naming it and its columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal

from reward.result import Verdict

BatchVerify = Callable[[Sequence[str], Sequence[Mapping[str, Any]]], list[Verdict]]


@dataclass(frozen=True)
class Verifier:
    """A named checker: `columns` every row must carry; `target` is "module:function" of its batch function,
    imported on first use so that naming a verifier (in validation, say) never loads sympy or the sandbox."""

    name: str
    columns: tuple[str, ...]
    target: str
    row_check: str | None = None
    """"module:function" of `(row) -> str | None`: why a row cannot be judged (None when it can), run by `align
    validate` over every row of a local prompts file, so a row no run could score fails before any model loads."""

    def verify_batch(self, completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
        """One Verdict per completion; `rows[i]` holds completion i's dataset columns."""
        module, function = self.target.split(":")
        verify: BatchVerify = getattr(import_module(module), function)
        return verify(completions, rows)

    def row_problem(self, row: Mapping[str, Any]) -> str | None:
        if self.row_check is None:
            return None
        module, function = self.row_check.split(":")
        check: Callable[[Mapping[str, Any]], str | None] = getattr(import_module(module), function)
        return check(row)

    def missing_columns(self, columns: Iterable[str]) -> list[str]:
        present = set(columns)
        return [c for c in self.columns if c not in present]


# google/IFEval's row format; `prompt` too, because some constraints ("repeat the request first") read it.
IFEVAL_COLUMNS = ("prompt", "instruction_id_list", "kwargs")
IFEVAL_ROW_CHECK = "reward.verifiers.ifeval:check_ifeval_row"

VERIFIERS: dict[str, Verifier] = {
    "math": Verifier("math", ("answer",), "reward.verifiers.math:verify_math_rows"),
    "code": Verifier("code", ("tests",), "reward.verifiers.code:verify_code_rows"),
    "ifeval": Verifier("ifeval", IFEVAL_COLUMNS, "reward.verifiers.ifeval:verify_ifeval_rows", IFEVAL_ROW_CHECK),
    "ifeval_all": Verifier(
        "ifeval_all", IFEVAL_COLUMNS, "reward.verifiers.ifeval:verify_ifeval_all_rows", IFEVAL_ROW_CHECK
    ),
}
# The names a recipe's `verifier:` key accepts; tests/reward/test_ifeval_verifier.py checks it lists VERIFIERS.
VerifierName = Literal["math", "code", "ifeval", "ifeval_all"]


def get_verifier(name: str) -> Verifier:
    try:
        return VERIFIERS[name]
    except KeyError:
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(VERIFIERS)}") from None
