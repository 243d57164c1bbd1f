"""The one result type every verifier and reward dimension returns per row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """A score with the reason behind it.

    `score is None` means "could not decide" (no reference, unparsable answer, sandbox failure that says
    nothing about the answer). Callers count and report those rows; they never turn them into 0 silently.
    """

    score: float | None
    reason: str
    flags: tuple[str, ...] = ()
    """Conditions the caller must count and report although the score stands, e.g. `sandbox_unisolated`: the
    code ran without some of the sandbox's namespaces (see `SandboxResult.namespaces_missing`)."""
