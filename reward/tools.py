"""The sandbox behind align's built-in tools: a model's tool call is one more caller of `run_program`.

`python_tool` runs the model's code and answers with what it printed or how it failed; `tests_tool` runs the model's
code against a prompt's *visible* tests (the caller passes them; the held-out tests the reward uses never come near a
tool) and answers with which failed and how. Like the code verifier, neither raises for anything the code does: a
hang is a timeout message, a crash a traceback, a sandbox failure an error line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reward.result import Verdict
from reward.sandbox import Limits, SandboxResult, run_program
from reward.sandbox.limits import DEFAULT_LIMITS
from reward.verifiers.code import CodeItem, check_outcomes, prepare_job

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
# The sandbox's scratch path says nothing to the model and differs per run (it would make outputs unrepeatable).
_SCRATCH = re.compile(r'File "/[^"]*/program\.py"')
_SOURCE_CHARS = 160
_TRACEBACK_LINES = 8


@dataclass(frozen=True)
class ToolRun:
    """One tool call's outcome: the text the model reads next, and whether the call failed."""

    text: str
    error: bool
    """The code did not run to the end (it raised, did not compile, timed out, ...) or the sandbox failed."""
    result: SandboxResult | None = None
    """The sandbox run behind it; None when nothing ran (no code found)."""


def _code(argument: str) -> str:
    """A fenced block when the model fenced its code, else the argument as written (syntax errors included: the
    model should read them, so nothing is trimmed to parse)."""
    blocks = [b for b in _FENCE.findall(argument) if b.strip()]
    return blocks[-1] if blocks else argument


def _traceback(stderr: str) -> str:
    lines = _SCRATCH.sub('File "program.py"', stderr).rstrip().splitlines()
    return "\n".join(lines[-_TRACEBACK_LINES:])


def python_tool(code: str, limits: Limits = DEFAULT_LIMITS) -> ToolRun:
    """Run `code`; the text is its stdout, then the traceback or why it was stopped."""
    result = run_program(_code(code), limits=limits)
    out = result.stdout
    if result.status == "ok":  # the template closes the result on its own line: a final newline would double it
        return ToolRun(out.rstrip("\n") if out.strip() else "(no output)", False, result)
    if result.status in ("failed", "syntax_error") and result.stderr.strip():
        why = _traceback(result.stderr)
    elif result.status == "sandbox_error":
        why = f"error: the sandbox failed ({result.reason}); the code did not run"
    else:
        why = f"error: {result.status}: {result.reason}"
    return ToolRun((out + ("\n" if out and not out.endswith("\n") else "") + why).strip(), True, result)


def tests_tool(
    code: str, tests: str, *, entry_point: str | None = None, prompt: str = "", limits: Limits = DEFAULT_LIMITS
) -> ToolRun:
    """Run `code` against `tests` (asserts, or HumanEval's `check(candidate)`); the text says how many passed and,
    for each failure, the check and the exception it raised (or that it was never reached, and why)."""
    job = prepare_job(CodeItem(code, tests, entry_point, prompt))
    if isinstance(job, Verdict):  # no code, no function to pass to check(), tests that do not parse
        return ToolRun(f"error: {job.reason}", True)
    result = run_program(job.program, harness=job.harness, limits=limits)
    if result.status in ("syntax_error", "sandbox_error", "harness_error"):
        return ToolRun(f"error: {result.status}: {_traceback(result.stderr) or result.reason}", True, result)
    outcomes = check_outcomes(job, result)
    total = len(job.checks)
    if not total:
        verdict = "passed" if result.passed else f"failed: {result.status}: {result.reason}"
        return ToolRun(f"the tests (no asserts) {verdict}", not result.passed, result)
    passed = sum(ok for ok, _ in outcomes.values())
    lines = [f"{passed}/{total} visible tests passed"]
    for index, source in enumerate(job.checks):
        ok, how = outcomes.get(index, (False, ""))
        if ok:
            continue
        shown = source if len(source) <= _SOURCE_CHARS else source[: _SOURCE_CHARS - 3] + "..."
        lines.append(f"FAILED {shown} -> {how or f'not reached ({result.status}: {result.reason})'}")
    stopped = result.status not in ("ok", "failed")  # timeout, memory, output limit, crash: the code misbehaved
    if result.status == "failed" and not outcomes and result.stderr.strip():
        lines.append(_traceback(result.stderr))  # it died before the first check: the traceback says why
    return ToolRun("\n".join(lines), stopped or (result.status == "failed" and not outcomes), result)
