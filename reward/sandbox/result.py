"""What a sandboxed run returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STATUSES: dict[str, str] = {
    "ok": "the program and the harness ran to the end and exited 0",
    "failed": "an uncaught exception, a non-zero exit, or an exit before the harness finished",
    "syntax_error": "the program does not compile",
    "timeout": "wall-clock or CPU time limit exceeded; the process tree was killed",
    "memory": "MemoryError under the address-space limit",
    "output_limit": "stdout or stderr exceeded Limits.output_bytes; the process tree was killed",
    "crashed": "killed by a fault signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT)",
    "killed": "killed by another signal (sent by itself, or the kernel's OOM killer)",
    "harness_error": "the harness (caller-supplied test code) does not compile; not the program's fault",
    "sandbox_error": "the sandbox itself failed (could not start, isolate, or drop privileges); says nothing "
    "about the program",
}


@dataclass(frozen=True)
class SandboxResult:
    """One run of untrusted code. `passed` is true only for status "ok"."""

    passed: bool
    status: str
    """One of STATUSES."""
    stdout: str
    stderr: str
    duration_s: float
    """Wall seconds the whole run took, interpreter start-up and clean-up included."""
    reason: str
    """One human-readable line explaining the status."""
    returncode: int | None
    """The program's exit code, or minus the signal that killed it; None when the sandbox killed it (timeout,
    output limit) or it never started."""
    network_isolated: bool
    """Whether the program ran in a fresh network namespace (no interfaces but a down loopback)."""
    namespaces_missing: tuple[str, ...] = ()
    """Namespaces the kernel refused for this run (`netns`, `pidns`, `mountns`): it ran with less isolation
    than the module docstring lists. Callers count these runs; the sandbox also logs a warning once."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown sandbox status {self.status!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
