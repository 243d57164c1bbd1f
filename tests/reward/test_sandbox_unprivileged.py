"""The sandbox when the host is NOT root: a user namespace instead of a uid switch.

CI runs as root, so this path is exercised by re-running the sandbox as an ordinary user (setpriv) with an
interpreter that user can execute; where either is missing the test is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USER = 61234  # any uid without processes of its own

# No verdict below is "timeout" alone: the time limits sit far behind, so a loaded machine that starts the
# sandbox slowly cannot turn "ok" into "timeout" (the fork bomb is stopped by the process limit).
SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from reward.sandbox import Limits, run_program
programs = {
    "whoami": "import os\\nprint(os.getuid())",
    "localhost": "import socket\\nsocket.create_connection(('127.0.0.1', PORT), timeout=2)",
    "fork_bomb": "import os\\nwhile True:\\n    os.fork()",
    "scratch": "for d in ('/tmp', '/var/tmp', '/dev/shm', '/run/lock'):\\n"
               "    open(d + '/MARK', 'w').write('x')",
    "daemon": "import os\\nif os.fork() == 0:\\n    os.setsid()\\n"
              "    os.execv('/bin/sh', ['/bin/sh', '-c', 'sleep 600; : MARK'])\\nprint('bye')",
}
limits = Limits(timeout_s=60.0, cpu_s=30.0)
results = {}
for name, code in programs.items():
    code = code.replace("PORT", sys.argv[2]).replace("MARK", sys.argv[3])
    results[name] = run_program(code, limits=limits).to_json()
print(json.dumps(results))
"""


def _candidate_interpreters() -> list[str]:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = "/usr/local/bin:/usr/bin:/bin"
    found = [os.path.realpath(sys.executable), shutil.which(version, path=system) or ""]
    return list(dict.fromkeys(p for p in found if p))


def _as_user(interpreter: str, *args: str) -> subprocess.CompletedProcess[str]:
    # Through a shell: setpriv can start a binary the user could not reach by path; a shell exec cannot.
    drop = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups"]
    return subprocess.run(
        [*drop, "/bin/sh", "-c", 'exec "$@"', "sh", interpreter, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd="/",
    )


@pytest.fixture(scope="module")
def interpreter() -> str:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to become an ordinary user")
    probe = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from reward.sandbox import run_program; "
        "result = run_program('pass'); sys.exit(result.status != 'ok')"
    )
    for candidate in _candidate_interpreters():
        if _as_user(candidate, "-c", probe).returncode == 0:
            return candidate
    pytest.skip("no interpreter that an ordinary user can run and import the repository with")


def test_unprivileged_user_gets_the_same_isolation(interpreter: str) -> None:
    listener = __import__("socket").create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    marker = f"align-unpriv-{os.getpid()}"
    try:
        done = _as_user(interpreter, "-c", SCRIPT, str(REPO), str(listener.getsockname()[1]), marker)
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    if not results["whoami"]["network_isolated"]:
        pytest.skip("no unprivileged user namespaces on this kernel; the fallback is reported, not tested")
    assert results["whoami"]["stdout"] == f"{USER}\n"  # keeps the user's uid
    assert results["localhost"]["reason"] == "OSError: [Errno 101] Network is unreachable"
    assert results["fork_bomb"]["status"] in {"failed", "timeout"}
    # World-writable scratch directories are private to the run: nothing lands on the host's.
    assert results["scratch"]["status"] == "ok", results["scratch"]["reason"]
    assert [d for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock") if Path(d, marker).exists()] == []
    assert results["daemon"]["status"] == "ok"
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, marker)]
    assert leftovers == []


def _cmdline_has(proc: Path, marker: str) -> bool:
    try:
        return marker.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False
