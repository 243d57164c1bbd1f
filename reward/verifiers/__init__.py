"""Verifiers: check completions against a row's reference answer or tests and return one `Verdict` each.

The registry below is the one place that says which verifiers exist and which dataset columns each needs;
pair building, GRPO rewards, evaluation and `align validate` all read it. A new verifier is one module with a
batch function `(completions, rows) -> list[Verdict]` plus one `VERIFIERS` line naming it and its columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from reward.result import Verdict

BatchVerify = Callable[[Sequence[str], Sequence[Mapping[str, Any]]], list[Verdict]]


@dataclass(frozen=True)
class Verifier:
    """A named checker: `columns` every row must carry; `target` is "module:function" of its batch function,
    imported on first use so that naming a verifier (in validation, say) never loads sympy or the sandbox."""

    name: str
    columns: tuple[str, ...]
    target: str

    def verify_batch(self, completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
        """One Verdict per completion; `rows[i]` holds completion i's dataset columns."""
        module, function = self.target.split(":")
        verify: BatchVerify = getattr(import_module(module), function)
        return verify(completions, rows)

    def missing_columns(self, columns: Iterable[str]) -> list[str]:
        present = set(columns)
        return [c for c in self.columns if c not in present]


VERIFIERS: dict[str, Verifier] = {
    "math": Verifier("math", ("answer",), "reward.verifiers.math:verify_math_rows"),
    "code": Verifier("code", ("tests",), "reward.verifiers.code:verify_code_rows"),
}


def get_verifier(name: str) -> Verifier:
    try:
        return VERIFIERS[name]
    except KeyError:
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(VERIFIERS)}") from None
