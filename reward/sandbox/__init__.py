"""Run untrusted, model-written Python with limits: the only code in align that executes model output.

What it protects against (each checked by tests/reward/test_sandbox_adversarial.py):
  - runaway time: wall-clock deadline and RLIMIT_CPU; the whole process tree is SIGKILLed on expiry;
  - memory and process bombs: RLIMIT_AS, RLIMIT_NPROC (threads included), RLIMIT_NOFILE, RLIMIT_FSIZE;
  - flooding the parent: at most Limits.output_bytes of stdout/stderr are ever held; past that it is killed;
  - the network: a fresh network namespace (only a down loopback), so no TCP/UDP/DNS, not even to
    localhost; abstract unix sockets are per-namespace too. Where the kernel refuses, the run goes ahead,
    `SandboxResult.network_isolated` is False, `namespaces_missing` names what was refused (for callers to
    count: the code verifier flags its verdicts `sandbox_unisolated`) and a warning is logged once;
  - the host's files: the program runs as an unprivileged uid (when the host runs as root, a uid of its own
    per run, verified to be unable to regain root), in a private mount namespace where / is read-only and
    the working directory, /tmp, /var/tmp, /dev/shm and /run/lock are fresh size-capped tmpfs that vanish
    with the run;
  - the parent and other processes: a fresh pid namespace with its own /proc, so it cannot see or signal
    anything outside; when the run ends its pid-1 reaper exits and the kernel kills whatever is left,
    daemonised grandchildren included;
  - the parent's environment: the child gets a minimal PATH/LANG/HOME/TMPDIR and nothing else, runs
    `python -I -S` (no PYTHON* variables, no site-packages: only the standard library is importable).

What it does NOT protect against:
  - kernel exploits: this is not a VM; the kernel is shared and there is no seccomp filter, so any kernel
    bug reachable by an unprivileged process is reachable from here;
  - reading: anything world-readable on the host (the repository, /etc, the venv) stays readable;
  - filesystem unix sockets with permissive modes, and other world-writable mounts we do not know about;
  - side channels and resource contention (CPU caches, disk and memory bandwidth);
  - a determined program forging its own test results: the program and harness share one interpreter, so
    the "harness finished" record and the verifier's nonce deter accidents and casual hacks, not an adversary;
  - without root or user namespaces, most of the above degrades to rlimits plus a process group (see
    `namespaces_missing`); a process that calls setsid() can then outlive the run.
For hostile multi-tenant use, run this inside a container or VM with a syscall filter (gVisor, Firecracker).
"""

from reward.sandbox.limits import Limits
from reward.sandbox.pool import SandboxPool
from reward.sandbox.result import STATUSES, SandboxResult
from reward.sandbox.runner import run_program

__all__ = ["STATUSES", "Limits", "SandboxPool", "SandboxResult", "run_program"]
