"""A bounded pool that runs many programs in parallel and returns their results in order."""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from reward.sandbox.limits import DEFAULT_LIMITS, Limits
from reward.sandbox.result import SandboxResult
from reward.sandbox.runner import run_program


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class SandboxPool:
    """Runs (program, harness) pairs, at most `workers` at a time.

    Threads suffice: each one only waits on its child process, and the children run on all cores.
    """

    def __init__(self, workers: int | None = None, limits: Limits = DEFAULT_LIMITS) -> None:
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.limits = limits
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sandbox")

    def map(self, programs: Iterable[tuple[str, str | None]]) -> list[SandboxResult]:
        def run(item: tuple[str, str | None]) -> SandboxResult:
            return run_program(item[0], harness=item[1], limits=self.limits)

        return list(self._executor.map(run, programs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
