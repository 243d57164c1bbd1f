"""When the kernel refuses the sandbox a namespace, the run goes on less isolated — and says so every time.

The refusal is real: the sandbox runs inside a user namespace whose quota of network namespaces is 0
(`/proc/sys/user/max_net_namespaces`), so its `unshare(CLONE_NEWNET)` fails in the kernel, as in a container
that forbids them. Needs root (to map the leased sandbox uids into that namespace); skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Parent: forks a child into a new user namespace, maps uids/gids 0-65535 onto the host's (the sandbox leases
# uids from 65000), then the child sets the quota to 0 and runs the script as that namespace's root.
NO_NETNS = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
go_r, go_w = os.pipe()
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
        os._exit(77)
    os.write(ready_w, b"x")
    os.read(go_r, 1)
    try:
        os.setgid(0)
        os.setuid(0)
        with open("/proc/sys/user/max_net_namespaces", "w") as quota:
            quota.write("0")
    except OSError:
        os._exit(77)
    os.execv(sys.executable, [sys.executable, "-c", sys.argv[1]])
if not os.read(ready_r, 1):
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
try:
    for name, text in (("uid_map", "0 0 65536"), ("setgroups", "allow"), ("gid_map", "0 0 65536")):
        with open(f"/proc/{pid}/{name}", "w") as handle:
            handle.write(text)
except OSError:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    sys.exit(77)
os.write(go_w, b"x")
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""

SCRIPT = """
import json, logging, sys
sys.path.insert(0, REPO)
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from reward import get_verifier
from reward.sandbox import run_program
result = run_program("import socket\\nprint(len(socket.if_nameindex()))")
rows = [{"tests": "assert f() == 1"}] * 2
verdicts = get_verifier("code").verify_batch(["def f():\\n    return 1", "def f():\\n    return 2"], rows)
print(json.dumps({
    "status": result.status,
    "network_isolated": result.network_isolated,
    "missing": result.namespaces_missing,
    "verdicts": [[v.score, list(v.flags)] for v in verdicts],
}))
"""


def test_a_refused_network_namespace_is_reported_on_every_result_and_warned_once():
    if os.geteuid() != 0:
        pytest.skip("needs root to map the sandbox's uids into a user namespace")
    script = SCRIPT.replace("REPO", repr(str(REPO)))
    done = subprocess.run(
        [sys.executable, "-c", NO_NETNS, script], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode == 77:
        pytest.skip("cannot build a user namespace with a zero net-namespace quota here")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["missing"] == ["netns"]
    assert out["network_isolated"] is False
    assert out["status"] == "ok"  # the program still ran (pid and mount namespaces were granted)
    # The verdicts keep their scores and carry the flag the pairs and GRPO stages count.
    assert out["verdicts"] == [[1.0, ["sandbox_unisolated"]], [0.0, ["sandbox_unisolated"]]]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("sandbox: the kernel refused")]
    assert warnings == [
        "sandbox: the kernel refused netns here; programs run with less isolation and can reach the network "
        "(counted as sandbox_unisolated in the verifier's results)"
    ]


def test_a_normal_run_reports_no_missing_namespace():
    from reward.sandbox import run_program

    result = run_program("print(1)")
    if not result.network_isolated:
        pytest.skip("this machine grants no network namespace at all")
    assert result.namespaces_missing == ()
