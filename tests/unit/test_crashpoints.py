"""ALIGN_CRASH_AT kills at the n-th time a point is reached, and ALIGN_CRASH_RANK only the rank named."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (
    "from align.runtime.crashpoints import crash_point\n"
    "for i in range(3):\n"
    "    print(i, flush=True)\n"
    "    crash_point('s:step')\n"
)


def reach_three_times(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        start_new_session=True,  # the kill takes its own process group, not pytest's
        check=False,
    )


@pytest.mark.parametrize(("crash_at", "printed"), [("s:step", "0\n"), ("s:step@2", "0\n1\n"), ("s:other", "0\n1\n2\n")])
def test_the_nth_arrival_is_killed(crash_at: str, printed: str):
    done = reach_three_times(ALIGN_CRASH_AT=crash_at)
    assert done.stdout == printed
    assert done.returncode == (0 if crash_at == "s:other" else -signal.SIGKILL)


def test_only_the_named_rank_dies():
    assert reach_three_times(ALIGN_CRASH_AT="s:step", ALIGN_CRASH_RANK="1", RANK="0").returncode == 0
    assert reach_three_times(ALIGN_CRASH_AT="s:step", ALIGN_CRASH_RANK="1", RANK="1").returncode == -signal.SIGKILL
