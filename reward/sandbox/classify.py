"""Turn what was observed of a run (records, exit, limits hit) into a status and a one-line reason."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from reward.sandbox import child
from reward.sandbox.limits import Limits

_FAULT_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}


@dataclass(frozen=True)
class Observed:
    """Everything the parent saw of one run."""

    records: dict[str, str]
    """Last payload per event from the child's status pipe."""
    stderr_tail: str
    """Last non-empty line of stderr, for reasons when the child sent no record."""
    overflow: str | None
    """"stdout" or "stderr" if that stream went past Limits.output_bytes."""
    timed_out: bool
    """The wall-clock deadline passed (before the program started: the sandbox's start-up deadline)."""
    process_returncode: int | None
    """The outer child's exit code (minus the signal), the fallback when C's exit record is missing."""
    has_harness: bool


@dataclass(frozen=True)
class Classified:
    status: str
    reason: str
    returncode: int | None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def classify(seen: Observed, limits: Limits) -> Classified:
    records = seen.records
    if child.SETUP_ERROR in records:
        return Classified("sandbox_error", f"sandbox setup failed: {records[child.SETUP_ERROR]}", None)
    if child.READY not in records:
        if seen.timed_out:
            return Classified("sandbox_error", "sandbox did not start in time (machine overloaded?)", None)
        detail = f": {seen.stderr_tail}" if seen.stderr_tail else ""
        code = seen.process_returncode
        return Classified(
            "sandbox_error", f"sandbox exited before the program started (code {code}){detail}", None
        )
    if seen.overflow:
        return Classified(
            "output_limit", f"wrote more than {limits.output_bytes} bytes to {seen.overflow}; killed", None
        )
    if seen.timed_out:
        exception = records.get(child.EXCEPTION)
        if exception is None:
            return Classified("timeout", f"timed out after {limits.timeout_s:g}s wall clock; killed", None)
        # The program had already ended with an uncaught exception; only its shutdown (freeing a memory bomb,
        # atexit handlers) outlasted the deadline. Report what it did, not which clock a loaded machine hit first.
        return _classify_exception(exception, limits, None)
    if child.HARNESS_ERROR in records:
        return Classified("harness_error", f"harness does not compile: {records[child.HARNESS_ERROR]}", 1)
    if child.SYNTAX_ERROR in records:
        return Classified("syntax_error", records[child.SYNTAX_ERROR], 1)
    return _classify_exit(seen, limits)


def _classify_exit(seen: Observed, limits: Limits) -> Classified:
    records = seen.records
    kind, value, cpu_s = "exit", seen.process_returncode, 0.0
    if child.EXIT in records:
        kind, number, cpu = records[child.EXIT].split()
        value, cpu_s = int(number), float(cpu)
    elif value is not None and value < 0:
        kind, value = "signal", -value
    if value is None:
        return Classified("sandbox_error", "the program's exit status was lost", None)
    if kind == "signal":
        # RLIMIT_CPU sends SIGXCPU at the soft limit and SIGKILL at the hard one.
        if value == signal.SIGXCPU or (value == signal.SIGKILL and cpu_s >= limits.effective_cpu_s):
            return Classified("timeout", f"exceeded the CPU limit of {limits.effective_cpu_s:g}s", -value)
        status = "crashed" if value in _FAULT_SIGNALS else "killed"
        return Classified(status, f"killed by {_signal_name(value)}", -value)
    exception = records.get(child.EXCEPTION)
    if exception is not None:
        return _classify_exception(exception, limits, value)
    if value == 0:
        # Only the child's "done" shows the harness ran: os._exit(0) in the program must not pass the tests.
        if child.DONE in records or not seen.has_harness:
            return Classified("ok", "exited 0", 0)
        return Classified("failed", "exited with status 0 before the harness finished", 0)
    detail = f": {seen.stderr_tail}" if seen.stderr_tail else ""
    return Classified("failed", f"exited with status {value}{detail}", value)


def _classify_exception(exception: str, limits: Limits, returncode: int | None) -> Classified:
    if exception.split(":", 1)[0] == "MemoryError":
        reason = f"MemoryError under the {limits.memory_mb} MiB address-space limit"
        return Classified("memory", reason, returncode)
    return Classified("failed", exception, returncode)
