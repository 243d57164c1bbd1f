"""The sandbox on ordinary programs: statuses, captured output, limits, the pool, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reward.sandbox import STATUSES, Limits, SandboxPool, SandboxResult, run_program
from reward.sandbox import pool as pool_module
from reward.sandbox.cli import main as cli_main
from reward.sandbox.uids import UID_RANGE

REPO = Path(__file__).resolve().parents[2]
QUICK = Limits(timeout_s=1.0)


def test_ok_program_captures_stdout_and_stderr() -> None:
    started = time.monotonic()
    result = run_program("import sys\nprint('hello')\nprint('warn', file=sys.stderr)")
    elapsed = time.monotonic() - started
    assert (result.status, result.passed, result.returncode) == ("ok", True, 0)
    assert result.stdout == "hello\n"
    assert result.stderr == "warn\n"
    assert result.reason == "exited 0"
    # Bounded by the time measured around the call, not by a constant a loaded machine could exceed.
    assert 0 < result.duration_s <= elapsed


def test_failed_assertion_is_failed_with_the_exception_as_reason() -> None:
    result = run_program("def f():\n    return 1\nassert f() == 2, 'f is wrong'")
    assert (result.status, result.passed, result.returncode) == ("failed", False, 1)
    assert result.reason == "AssertionError: f is wrong"
    assert "program.py" in result.stderr and "line 3" in result.stderr


def test_harness_runs_after_the_program_in_the_same_globals() -> None:
    program = "def add(a, b):\n    return a + b\n"
    assert run_program(program, harness="assert add(2, 2) == 4\nprint('tests ran')").stdout == "tests ran\n"
    failing = run_program(program, harness="assert add(2, 2) == 5")
    assert failing.status == "failed" and failing.reason.startswith("AssertionError")


@pytest.mark.parametrize(
    "program",
    ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "raise SystemExit"],
    ids=["sys.exit", "os._exit", "SystemExit"],
)
def test_exiting_0_before_the_harness_is_not_a_pass(program: str) -> None:
    result = run_program(program, harness="raise AssertionError('never reached')")
    assert result.status == "failed"
    assert "before the harness finished" in result.reason


def test_exiting_0_without_a_harness_is_ok() -> None:
    assert run_program("import os\nos._exit(0)").status == "ok"


def test_harness_calling_sys_exit_0_passes() -> None:
    # unittest.main() ends with sys.exit(0) on success.
    assert run_program("x = 1", harness="import sys\nassert x == 1\nsys.exit(0)").passed


def test_nonzero_exit_code_is_failed_with_that_code() -> None:
    result = run_program("import sys\nsys.exit(3)")
    assert (result.status, result.returncode) == ("failed", 3)
    assert result.reason == "exited with status 3"


def test_syntax_error_is_its_own_status() -> None:
    result = run_program("def f(:\n    pass")
    assert (result.status, result.passed) == ("syntax_error", False)
    assert result.reason.startswith("SyntaxError")


def test_harness_that_does_not_compile_is_a_harness_error() -> None:
    result = run_program("x = 1", harness="assert x ==")
    assert result.status == "harness_error"


def test_timeout_kills_and_says_so() -> None:
    started = time.monotonic()
    result = run_program("import time\nprint('started', flush=True)\ntime.sleep(60)", limits=QUICK)
    assert time.monotonic() - started < 60  # the sleep did not run to its end, however loaded the machine
    assert (result.status, result.returncode) == ("timeout", None)
    assert result.reason == "timed out after 1s wall clock; killed"
    assert result.stdout == "started\n"  # output before the kill is kept


def test_cpu_limit_is_reported_as_timeout() -> None:
    result = run_program("while True:\n    pass", limits=Limits(timeout_s=10.0, cpu_s=1.0))
    assert result.status == "timeout"
    assert "CPU limit of 1s" in result.reason


def test_output_beyond_the_limit_is_truncated_and_killed() -> None:
    limits = Limits(output_bytes=1000)
    result = run_program("print('x' * 999)", limits=limits)
    assert result.status == "ok" and len(result.stdout) == 1000
    flooded = run_program("import sys\nwhile True:\n    sys.stderr.write('y' * 4096)", limits=limits)
    assert flooded.status == "output_limit"
    assert flooded.stderr == "y" * 1000
    assert "1000 bytes to stderr" in flooded.reason


def test_status_follows_the_exception_when_shutdown_outlasts_the_deadline() -> None:
    """A program that already died of MemoryError is "memory" even if its exit is slow (a loaded machine
    freeing a memory bomb): here an atexit handler that sleeps past the deadline makes that certain."""
    program = "import atexit, time\natexit.register(time.sleep, 60)\nraise MemoryError('bomb')"
    # The exception must come before the deadline: 1 s could pass while a loaded machine starts the sandbox,
    # and the verdict would be "timeout" whatever the program did. Both runs wait out the deadline.
    limits = Limits(timeout_s=5.0)
    result = run_program(program, limits=limits)
    assert result.status == "memory", result.reason
    assert result.duration_s < 60  # killed at the deadline, not left to sleep
    failing = run_program(program.replace("MemoryError", "ValueError"), limits=limits)
    assert (failing.status, failing.reason) == ("failed", "ValueError: bomb")


def test_memory_limit_raises_memory_error() -> None:
    result = run_program("x = bytearray(300 * 1024 * 1024)", limits=Limits(memory_mb=128))
    assert result.status == "memory"
    assert "128 MiB" in result.reason


def test_the_standard_library_is_importable_but_site_packages_are_not() -> None:
    stdlib = run_program("import json, hashlib, math, collections, typing, decimal, sqlite3\nprint('ok')")
    assert stdlib.stdout == "ok\n", stdlib.stderr
    assert run_program("import torch").reason == "ModuleNotFoundError: No module named 'torch'"


def test_working_directory_is_fresh_private_and_removed() -> None:
    result = run_program(
        "import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())\nprint(sorted(os.listdir('.')))"
    )
    cwd, listing = result.stdout.splitlines()
    assert listing == "['program.py', 'scratch.txt']"
    assert not Path(cwd).exists()


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIGN_TEST_LEAK", "should-not-leak")
    result = run_program("import os\nprint(sorted(os.environ))")
    assert result.stdout.strip() == str(sorted(["HOME", "LANG", "LC_ALL", "PATH", "TMPDIR"]))


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop happens only when the host runs as root")
def test_runs_as_an_unprivileged_uid_that_cannot_regain_root() -> None:
    result = run_program("import os\nprint(os.getuid(), os.geteuid(), os.getgroups())\nos.setuid(0)")
    uid, euid, groups = result.stdout.split(maxsplit=2)
    assert int(uid) == int(euid) and int(uid) in UID_RANGE
    assert groups.strip() == "[]"
    assert result.reason.startswith("PermissionError")


def test_network_isolation_is_reported() -> None:
    result = run_program("import socket\nprint(socket.if_nameindex())")
    if not result.network_isolated:
        pytest.skip("this kernel refused a network namespace; the fallback is reported, not tested here")
    assert result.stdout.strip() == "[(1, 'lo')]"


def test_result_serialises_to_json() -> None:
    result = run_program("print('hi')")
    payload = json.loads(json.dumps(result.to_json()))
    assert payload["status"] == "ok" and payload["stdout"] == "hi\n"
    assert set(payload) == {f for f in SandboxResult.__dataclass_fields__}
    assert set(STATUSES) >= {"ok", "failed", "timeout", "memory", "killed", "crashed", "output_limit"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout_s": -1},
        {"timeout_s": float("nan")},
        {"timeout_s": float("inf")},
        {"memory_mb": 8},
        {"cpu_s": 0},
    ],
)
def test_invalid_limits_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Limits(**kwargs)


def test_pool_preserves_order_and_runs_in_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    # A barrier that opens only when all four programs are in flight at once proves parallelism whatever the
    # machine's load; the old check (overlapping sleeps) lost the race when sandboxes started slowly.
    barrier = threading.Barrier(4, timeout=120)
    real = pool_module.run_program

    def run_together(code: str, **kwargs):
        barrier.wait()  # BrokenBarrierError (the test fails) if the pool runs fewer than four at a time
        return real(code, **kwargs)

    monkeypatch.setattr(pool_module, "run_program", run_together)
    with SandboxPool(workers=4) as pool:
        results = pool.map([(f"print({i})", None) for i in range(4)])
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(4)]
    assert {r.status for r in results} == {"ok"}


def test_pool_passes_harness_and_limits() -> None:
    # The busy loop is stopped by the pool's CPU limit (the default would allow 30 s of CPU), so the verdicts
    # do not depend on how fast a loaded machine starts the two quick programs.
    with SandboxPool(workers=2, limits=Limits(timeout_s=30.0, cpu_s=1.0)) as pool:
        ok, failed, slow = pool.map([("x = 1", "assert x == 1"), ("x = 1", "assert x == 2"), ("while 1: pass", None)])
    assert (ok.status, failed.status, slow.status) == ("ok", "failed", "timeout")


def test_cli_prints_one_json_object_and_returns_0_whatever_the_program_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = tmp_path / "prog.py"
    program.write_text("raise ValueError('boom')\n")
    assert cli_main(["run", str(program), "--timeout", "2", "--memory-mb", "256"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    payload = json.loads(out)
    assert (payload["status"], payload["reason"]) == ("failed", "ValueError: boom")


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "/nonexistent/prog.py"],
        ["run", "PROGRAM", "--timeout", "-1"],
        ["run", "PROGRAM", "--timeout", "soon"],
        ["run", "PROGRAM", "--memory-mb", "1"],
        ["frobnicate"],
        [],
    ],
)
def test_cli_bad_arguments_return_2_with_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = tmp_path / "prog.py"
    program.write_text("print(1)\n")
    assert cli_main([str(program) if a == "PROGRAM" else a for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith("error: ")


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text("print(6 * 7)\n")
    harness = tmp_path / "tests.py"
    harness.write_text("assert 6 * 7 == 42\n")
    done = subprocess.run(
        [sys.executable, "-m", "reward.sandbox", "run", str(program), "--harness", str(harness)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert (payload["status"], payload["stdout"]) == ("ok", "42\n")
    missing = subprocess.run(
        [sys.executable, "-m", "reward.sandbox", "run", str(tmp_path / "absent.py")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and missing.stdout == ""
