"""Code verifier: pull the code out of a completion, run it against unit tests in the sandbox, score it.

The score is the fraction of test checks passed. A check is one top-level statement of the tests (of their
`check(candidate)` function, HumanEval style, or of the module itself) that contains an `assert`; all
checks run in ONE sandbox execution, each in its own try/except, and each reports its outcome on stdout as
a line tagged with a per-run nonce. Statements without an assert (imports, setup) run unwrapped. Tests
with no assert at all (unittest style) count as a single check: passed if the run ends cleanly.
"""

from __future__ import annotations

import ast
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reward.result import Verdict
from reward.sandbox import Limits, SandboxPool, SandboxResult, run_program
from reward.sandbox.child import HARNESS_WRITE
from reward.sandbox.limits import DEFAULT_LIMITS

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3"}
# Longest prefix that parses: generations often trail off into prose after the code.
_MAX_TRIM_LINES = 200
_SOURCE_IN_REASON = 120
UNISOLATED = "sandbox_unisolated"


@dataclass(frozen=True)
class CodeItem:
    """One completion to verify, as `verify_code` takes it."""

    completion: str
    tests: str
    entry_point: str | None = None
    prompt: str = ""


@dataclass(frozen=True)
class Job:
    program: str
    harness: str
    nonce: str
    checks: tuple[str, ...]
    """Source of each check, in order, for the reason line."""


def extract_code(completion: str, *, prompt: str = "", entry_point: str | None = None) -> str | None:
    """The program to run: the completion's code (fenced block, else raw text), completed by `prompt`.

    A bare function body (HumanEval style: its first line indented) continues `prompt`. A
    full solution gets `prompt` prepended when the prompt is Python, so its imports and helpers exist; the
    solution's own definitions come later and win. None when no code can be found.
    """
    fenced = _FENCE.findall(completion)
    blocks = [body for tag, body in fenced if tag.lower() in _PYTHON_TAGS and body.strip()]
    if blocks:
        defines = re.compile(rf"\bdef\s+{re.escape(entry_point)}\s*\(") if entry_point else None
        defining = [b for b in blocks if defines is not None and defines.search(b)]
        code = (defining or blocks)[-1]
    elif "```" in completion:
        return None
    else:
        code = completion
    if not code.strip():
        return None
    first_line = next(line for line in code.splitlines() if line.strip())
    if prompt and first_line[:1] in " \t":
        return _parseable_prefix(prompt + code, keep=prompt)
    code = _parseable_prefix(code)
    if code is None:
        return None
    return f"{prompt}\n{code}" if prompt and _parses(prompt) else code


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def _parseable_prefix(source: str, keep: str = "") -> str | None:
    """`source` cut at the last line after which it parses; None if no part beyond `keep` parses."""
    if _parses(source):
        return source
    lines = source.splitlines(keepends=True)
    floor = len(keep.splitlines())
    for end in range(len(lines) - 1, max(floor, len(lines) - _MAX_TRIM_LINES), -1):
        candidate = "".join(lines[:end])
        if candidate.strip() and _parses(candidate):
            return candidate
    # Nothing parses: run it anyway when it is clearly meant as code, so the syntax error is the reason.
    return source if keep or _looks_like_code(source) else None


def _looks_like_code(source: str) -> bool:
    return bool(re.search(r"^\s*(def|class|import|from|return|for|while|if)\b|=", source, re.MULTILINE))


def _is_check(node: ast.stmt) -> bool:
    return any(isinstance(child, ast.Assert) for child in ast.walk(node))


def _wrap(node: ast.stmt, index: int, emit: str) -> ast.stmt:
    report = f"{emit}({index}, True, '')"
    failure = f"{emit}({index}, False, type(__align_error).__name__)"
    template = ast.parse(f"try:\n    pass\nexcept BaseException as __align_error:\n    {failure}\nelse:\n    {report}")
    wrapped = template.body[0]
    assert isinstance(wrapped, ast.Try)
    wrapped.body = [node]
    return wrapped


def build_harness(tests: str, entry_point: str | None, nonce: str) -> tuple[str, tuple[str, ...]]:
    """The tests rewritten so each check reports itself; returns (harness source, source of each check).

    Raises SyntaxError if the tests do not parse.
    """
    module = ast.parse(tests)
    emit = "__align_emit"
    checks: list[str] = []

    def wrap_checks(body: list[ast.stmt]) -> list[ast.stmt]:
        out = []
        for node in body:
            if _is_check(node):
                out.append(_wrap(node, len(checks), emit))
                checks.append(" ".join(ast.unparse(node).split()))
            else:
                out.append(node)
        return out

    has_check_function = False
    body: list[ast.stmt] = []
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            has_check_function = True
            node.body = wrap_checks(node.body)
            body.append(node)
        else:
            body.extend(wrap_checks([node]))
    module.body = body
    line = f"'\\n{nonce} %d %s %s\\n' % (index, 'ok' if ok else 'fail', error)"
    emitter = f"def {emit}(index, ok, error):\n    {HARNESS_WRITE}(1, ({line}).encode())\n"
    call = f"\ncheck({entry_point})\n" if has_check_function and entry_point else ""
    return emitter + ast.unparse(module) + "\n" + call, tuple(checks)


def prepare_job(item: CodeItem) -> Job | Verdict:
    entry_point = item.entry_point or _last_function(item.prompt)
    program = extract_code(item.completion, prompt=item.prompt, entry_point=entry_point)
    if program is None:
        return Verdict(0.0, "no code found")
    if entry_point is None:
        entry_point = _last_function(program)
    if entry_point is None and re.search(r"^def check\(", item.tests, re.MULTILINE):
        return Verdict(0.0, "no function found to pass to check()")
    nonce = secrets.token_hex(12)
    try:
        harness, checks = build_harness(item.tests, entry_point, nonce)
    except SyntaxError as exc:
        return Verdict(None, f"tests do not parse: {exc}")
    return Job(program=program, harness=harness, nonce=nonce, checks=checks)


def _last_function(source: str) -> str | None:
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names = [n.name for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    return names[-1] if names else None


def _score(job: Job, result: SandboxResult) -> Verdict:
    verdict = _judge(job, result)
    if result.namespaces_missing:  # the score stands; that it ran less isolated is counted, never silent
        return Verdict(verdict.score, verdict.reason, (*verdict.flags, UNISOLATED))
    return verdict


def _judge(job: Job, result: SandboxResult) -> Verdict:
    if result.status in ("sandbox_error", "harness_error"):
        return Verdict(None, f"{result.status}: {result.reason}")
    if result.status == "syntax_error":
        return Verdict(0.0, f"syntax error: {result.reason}")
    if not job.checks:
        outcome = "passed" if result.passed else f"failed ({result.status}: {result.reason})"
        return Verdict(1.0 if result.passed else 0.0, f"tests have no assert; ran as one check: {outcome}")
    outcomes = check_outcomes(job, result)
    passed = sum(ok for ok, _ in outcomes.values())
    total = len(job.checks)
    reason = f"{passed}/{total} tests passed"
    failed = [i for i in range(total) if not outcomes.get(i, (False, ""))[0]]
    if failed:
        first = failed[0]
        source = job.checks[first]
        if len(source) > _SOURCE_IN_REASON:
            source = source[: _SOURCE_IN_REASON - 3] + "..."
        why = outcomes[first][1] if first in outcomes else f"not reached: {result.status}: {result.reason}"
        reason += f"; first failure: {source} ({why})"
    return Verdict(passed / total, reason)


def check_outcomes(job: Job, result: SandboxResult) -> dict[int, tuple[bool, str]]:
    """(passed, exception type) of each check that reported; a check missing here was never reached."""
    outcomes: dict[int, tuple[bool, str]] = {}
    pattern = re.compile(rf"^{job.nonce} (\d+) (ok|fail) ?(\S*)$", re.MULTILINE)
    for match in pattern.finditer(result.stdout):
        index = int(match.group(1))
        if index < len(job.checks):
            outcomes.setdefault(index, (match.group(2) == "ok", match.group(3)))
    return outcomes


def verify_code(
    completion: str,
    tests: str,
    *,
    entry_point: str | None = None,
    prompt: str = "",
    limits: Limits = DEFAULT_LIMITS,
) -> Verdict:
    """Score `completion` by the fraction of `tests`' checks it passes (see the module docstring)."""
    job = prepare_job(CodeItem(completion, tests, entry_point, prompt))
    if isinstance(job, Verdict):
        return job
    return _score(job, run_program(job.program, harness=job.harness, limits=limits))


def verify_code_batch(items: Iterable[CodeItem], pool: SandboxPool) -> list[Verdict]:
    """verify_code for many items, run in parallel on `pool` (with its limits); results in order."""
    jobs = [prepare_job(item) for item in items]
    runnable = [job for job in jobs if isinstance(job, Job)]
    results = iter(pool.map((job.program, job.harness) for job in runnable))
    return [job if isinstance(job, Verdict) else _score(job, next(results)) for job in jobs]


def verify_code_rows(completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    """The registry's batch entry point: each row carries `tests` (and optionally `entry_point` and the
    `code_prompt` the completion continues); every program runs on one sandbox pool, in parallel."""
    items = [
        CodeItem(text, row["tests"], entry_point=row.get("entry_point"), prompt=row.get("code_prompt") or "")
        for text, row in zip(completions, rows, strict=True)
    ]
    with SandboxPool() as pool:
        return verify_code_batch(items, pool)
