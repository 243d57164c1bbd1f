"""run_program: start the child interpreter, feed it the program, watch it, and clean up after it."""

from __future__ import annotations

import logging
import os
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

from reward.sandbox import child
from reward.sandbox.classify import Observed, classify
from reward.sandbox.host import HostPlan, host_plan
from reward.sandbox.limits import DEFAULT_LIMITS, Limits
from reward.sandbox.result import SandboxResult
from reward.sandbox.uids import lease_uid

log = logging.getLogger(__name__)

# Imported, not run as a script, so the interpreter loads child.py's cached bytecode (written when the
# parent imported it) instead of compiling it on every run; the sandbox directory leaves sys.path before
# the program runs.
_CHILD_DIR = str(Path(child.__file__).resolve().parent)
_LAUNCH = f"import sys; sys.path.insert(0, {_CHILD_DIR!r}); import child; del sys.path[0]; child.main()"
# Start-up (interpreter, namespaces, mounts) normally takes ~30 ms; this only bounds a wedged machine.
_STARTUP_TIMEOUT_S = 30.0
# After the child exits, how long a straggler holding its pipes open may delay the result.
_EXIT_GRACE_S = 0.5
_STATUS_CAP = 64 * 1024
NAMESPACES = ("netns", "pidns", "mountns")
_MIB = 1024 * 1024

_warned_lock = threading.Lock()
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message)


def run_program(code: str, *, harness: str | None = None, limits: Limits = DEFAULT_LIMITS) -> SandboxResult:
    """Run untrusted `code`, then `harness` (trusted test code, same globals), in the sandbox.

    Status "ok" needs the harness to have run to the end: a program that exits early (sys.exit(0),
    os._exit(0)) fails. The harness also finds `__sandbox_write__` in its globals: os.write as it was before
    the program ran, for reporting results the program cannot rewrite by monkeypatching.
    Never raises for anything the program does; a failure of the sandbox itself is status "sandbox_error".
    """
    started = time.monotonic()
    try:
        plan = host_plan()
        with ExitStack() as stack:
            uid = stack.enter_context(lease_uid()) if plan.as_root else None
            workdir = tempfile.mkdtemp(prefix="align-sandbox-")
            stack.callback(_remove_tree, workdir)
            if uid is not None:
                os.chown(workdir, uid, uid)
            run = _Run(plan, limits, uid, workdir, harness is not None)
            run.execute(code, harness)
    except Exception as exc:  # the sandbox's own failure, reported rather than raised
        log.exception("sandbox failure")
        return SandboxResult(
            passed=False,
            status="sandbox_error",
            stdout="",
            stderr="",
            duration_s=time.monotonic() - started,
            reason=f"sandbox failure: {type(exc).__name__}: {exc}",
            returncode=None,
            network_isolated=False,
        )
    verdict = classify(run.observed(), limits)
    return SandboxResult(
        passed=verdict.status == "ok",
        status=verdict.status,
        stdout=bytes(run.streams["stdout"]).decode("utf-8", "replace"),
        stderr=bytes(run.streams["stderr"]).decode("utf-8", "replace"),
        duration_s=time.monotonic() - started,
        reason=verdict.reason,
        returncode=verdict.returncode,
        network_isolated=run.facts.get("netns") == "1",
        namespaces_missing=run.namespaces_missing(),
    )


def _rlimits(limits: Limits) -> list[tuple[int, int, int]]:
    cpu = max(1, int(-(-limits.effective_cpu_s // 1)))
    memory = limits.memory_mb * _MIB
    files = limits.file_size_mb * _MIB
    return [
        # The hard CPU limit a second later turns an ignored SIGXCPU into SIGKILL.
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_NPROC, limits.max_processes, limits.max_processes),
        (resource.RLIMIT_FSIZE, files, files),
        (resource.RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (resource.RLIMIT_CORE, 0, 0),
    ]


def _remove_tree(path: str) -> None:
    # Without a private mount namespace the program wrote here directly and may have left mode-000
    # directories: open them up first (never through a symlink, which could point anywhere).
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            entry = Path(root, name)
            if not entry.is_symlink():
                entry.chmod(0o700)
    shutil.rmtree(path, ignore_errors=True)
    if Path(path).exists():
        log.warning("sandbox: could not remove %s", path)


@dataclass
class _Run:
    plan: HostPlan
    limits: Limits
    uid: int | None
    workdir: str
    has_harness: bool
    nonce: str = field(default_factory=lambda: secrets.token_hex(16))
    streams: dict[str, bytearray] = field(
        default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()}
    )
    facts: dict[str, str] = field(default_factory=dict)
    records: dict[str, str] = field(default_factory=dict)
    overflow: str | None = None
    timed_out: bool = False
    returncode: int | None = None

    def execute(self, code: str, harness: str | None) -> None:
        config = child.encode_config(
            {
                "nonce": self.nonce,
                "program": code,
                "harness": harness,
                "workdir": self.workdir,
                "uid": self.uid,
                "gid": self.uid,
                "rebind": [[blocker, list(roots)] for blocker, roots in self.plan.rebind],
                "scratch": list(self.plan.scratch),
                "tmpfs_kb": self.limits.file_size_mb * 1024,
                "rlimits": _rlimits(self.limits),
                "probe": self.plan.probe,
            }
        )
        status_read, status_write = os.pipe()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": self.workdir,
            "TMPDIR": self.workdir,
        }
        try:
            proc = subprocess.Popen(
                [self.plan.interpreter, "-I", "-S", "-B", "-c", _LAUNCH, str(status_write)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
                pass_fds=(status_write,),
            )
        finally:
            os.close(status_write)
        try:
            self._feed(proc, config)
            self._watch(proc, status_read)
        finally:
            self._stop(proc)
            os.close(status_read)

    def _feed(self, proc: subprocess.Popen[bytes], config: bytes) -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(config)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died at start-up; _watch sees no "ready" and reports it

    def _watch(self, proc: subprocess.Popen[bytes], status_fd: int) -> None:
        """Read the three pipes until they close, the deadline passes, or output goes over the limit."""
        assert proc.stdout is not None and proc.stderr is not None
        names = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr", status_fd: "status"}
        status = bytearray()
        ready_marker = f"{self.nonce} {child.READY} ".encode()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        started = False
        exited_at: float | None = None
        with selectors.DefaultSelector() as selector:
            for fd in names:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                now = time.monotonic()
                if exited_at is None and _has_exited(proc.pid):
                    exited_at = now
                    deadline = min(deadline, now + _EXIT_GRACE_S)
                if now >= deadline:
                    self.timed_out = exited_at is None
                    break
                for key, _ in selector.select(min(deadline - now, 0.25)):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fd)
                    elif self._keep(names[key.fd], chunk, status):
                        break
                if self.overflow:
                    break
                if not started and ready_marker in status:
                    started = True
                    # The program's time starts now: interpreter start-up is the sandbox's cost.
                    deadline = time.monotonic() + self.limits.timeout_s
            self._read_late_status(selector, status_fd, status)
        self._parse(status)

    def _read_late_status(self, selector: selectors.BaseSelector, status_fd: int, status: bytearray) -> None:
        if self.timed_out and status_fd in selector.get_map():
            # Records the child wrote before the deadline (an exception it already raised) are evidence
            # of how the program ended; a loaded machine may simply not have read them yet.
            status += _drain(status_fd, _STATUS_CAP - len(status))

    def _keep(self, name: str, chunk: bytes, status: bytearray) -> bool:
        """Store a chunk read from one pipe (in place); True when it took a stream over the output limit."""
        if name == "status":
            status += chunk[: _STATUS_CAP - len(status)]
            return False
        kept = self.streams[name]
        room = self.limits.output_bytes - len(kept)
        kept += chunk[:room]
        if len(chunk) > room:
            self.overflow = name
            return True
        return False

    def _parse(self, status: bytes | bytearray) -> None:
        prefix = f"{self.nonce} "
        for line in status.decode("utf-8", "replace").splitlines():
            if line.startswith(prefix):
                event, _, payload = line[len(prefix) :].partition(" ")
                self.records[event] = payload
        for fact in self.records.get(child.READY, "").split():
            key, _, value = fact.partition("=")
            self.facts[key] = value
        missing = self.namespaces_missing()
        if missing:
            _warn_once(
                f"namespaces:{','.join(missing)}",
                f"sandbox: the kernel refused {', '.join(missing)} here; programs run with less isolation"
                + (" and can reach the network" if "netns" in missing else "")
                + " (counted as sandbox_unisolated in the verifier's results)",
            )

    def namespaces_missing(self) -> tuple[str, ...]:
        """Namespaces the child reported it could not create; () before it reported anything."""
        if not self.records.get(child.READY):
            return ()
        return tuple(name for name in NAMESPACES if self.facts.get(name) != "1")

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        # Kill the group while its leader is still unreaped, so its id cannot have been reused by anyone else.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.returncode = proc.returncode
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if self.uid is not None and self.facts.get("pidns") != "1":
            _kill_uid(self.uid)

    def observed(self) -> Observed:
        lines = bytes(self.streams["stderr"][-2000:]).decode("utf-8", "replace").strip().splitlines()
        return Observed(
            records=self.records,
            stderr_tail=lines[-1][:200] if lines else "",
            overflow=self.overflow,
            timed_out=self.timed_out,
            process_returncode=self.returncode,
            has_harness=self.has_harness,
        )


def _drain(fd: int, room: int) -> bytes:
    """What is already in the pipe, without waiting for writers that may never close it."""
    os.set_blocking(fd, False)
    chunks = []
    while room > 0:
        try:
            chunk = os.read(fd, min(room, 65536))
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        room -= len(chunk)
    return b"".join(chunks)


def _has_exited(pid: int) -> bool:
    # WNOWAIT leaves it a zombie: its pid, and so its process group id, stays reserved until _stop reaps it.
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_uid(uid: int) -> None:
    """Without a pid namespace, processes that left the group (setsid) are found by their sandbox uid."""
    for _ in range(100):
        found = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid != uid:
                    continue
                os.kill(int(entry.name), signal.SIGKILL)
                found = True
            except (FileNotFoundError, ProcessLookupError):
                continue
        if not found:
            return
        time.sleep(0.01)
