"""Hostile programs: each must get the expected status AND leave the host unharmed.

After every run the host checks hold: the canary files outside the sandbox are intact, a sentinel process
in the test's process group is alive, the listening localhost sockets got no connection or datagram, the
secret in the parent's environment did not appear in the program's output, no file appeared in the
parent's working directory, and no process carrying this run's marker is left.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template

import pytest

from reward import python_tool
from reward.sandbox import Limits, SandboxResult, run_program

REPO = Path(__file__).resolve().parents[2]
# Busy loops are stopped by the CPU limit, which a loaded machine cannot delay; the wall clock only has to
# catch sleepers.
LIMITS = Limits(timeout_s=3.0, cpu_s=1.0, output_bytes=64 * 1024)
# A program that the memory limit must stop: page-faulting 512 MiB costs anything from 0.1 to over 1 CPU second
# depending on the machine (seen in CI), so the time limits here are only a backstop far behind the memory one.
MEMORY_LIMITED = dataclasses.replace(LIMITS, timeout_s=60.0, cpu_s=30.0)
# Every program whose verdict is not "timeout" runs with the time limits far behind: on a loaded or slow machine
# a 3 s wall clock (or 1 CPU second of page faults) could fire before the limit under test and turn, say, a thread
# bomb's "failed" into "timeout". Verdicts then depend on what the program did, not on which timer fired first.
UNTIMED = MEMORY_LIMITED
CANARY_TEXT = "canary: must survive every hostile program\n"


@dataclass
class Host:
    values: dict[str, str]
    canaries: list[Path]
    listeners: list[socket.socket]
    sentinel: subprocess.Popen[bytes]
    secret: str
    marker: str

    def leftovers(self) -> list[str]:
        found = []
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if self.marker.encode() in cmdline and proc.name != str(os.getpid()):
                found.append(f"{proc.name}: {cmdline!r}")
        return found

    def assert_unharmed(self, result: SandboxResult) -> None:
        for canary in self.canaries:
            assert canary.read_text() == CANARY_TEXT, f"{canary} was changed"
            assert sorted(p.name for p in canary.parent.iterdir()) == [canary.name], "files appeared next to it"
        assert not Path(self.values["parent_cwd"], f"pwned-{self.marker}").exists(), "wrote into the parent's cwd"
        assert self.sentinel.poll() is None, "the sentinel process in the parent's group was killed"
        for listener in self.listeners:
            with pytest.raises(BlockingIOError):
                if listener.type == socket.SOCK_DGRAM:
                    listener.recvfrom(1024)
                else:
                    listener.accept()
        assert self.secret not in result.stdout + result.stderr, "the parent's secret leaked"
        assert self.leftovers() == [], "processes outlived the run"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    marker = f"align-sbx-marker-{secrets.token_hex(6)}"
    secret = secrets.token_hex(16)
    secret_name = "ALIGN_SANDBOX_TEST_SECRET"
    os.environ[secret_name] = secret
    # World-writable directories holding world-writable canaries: only isolation, not permissions, saves them.
    tmp_dir = tmp_path_factory.mktemp("canary")
    repo_dir = Path(REPO, f".sandbox-canary-{marker}")
    repo_dir.mkdir()
    canaries = []
    for directory in (tmp_dir, repo_dir):
        directory.chmod(0o777)
        canary = directory / "canary.txt"
        canary.write_text(CANARY_TEXT)
        canary.chmod(0o666)
        canaries.append(canary)
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract_name = f"\0{marker}"
    abstract.bind(abstract_name)
    abstract.listen()
    for listener in (tcp, udp, abstract):
        listener.setblocking(False)
    sentinel = subprocess.Popen(["sleep", "600"])
    values = {
        "marker": marker,
        "secret_name": secret_name,
        "canary_tmp": str(canaries[0]),
        "canary_repo": str(canaries[1]),
        "canary_dir_repo": str(repo_dir),
        "parent_cwd": str(Path.cwd()),
        "parent_pid": str(os.getpid()),
        "parent_pgid": str(os.getpgrp()),
        "sentinel_pid": str(sentinel.pid),
        "port": str(tcp.getsockname()[1]),
        "udp_port": str(udp.getsockname()[1]),
        "abstract": marker,
    }
    try:
        yield Host(values, canaries, [tcp, udp, abstract], sentinel, secret, marker)
    finally:
        sentinel.kill()
        sentinel.wait()
        for listener in (tcp, udp, abstract):
            listener.close()
        shutil.rmtree(repo_dir, ignore_errors=True)
        del os.environ[secret_name]


Check = Callable[[SandboxResult], None]


def returncode(expected: int) -> Check:
    def check(result: SandboxResult) -> None:
        assert result.returncode == expected

    return check


def stdout_lacks(text: str) -> Check:
    def check(result: SandboxResult) -> None:
        assert text not in result.stdout

    return check


def stdout_has(text: str) -> Check:
    def check(result: SandboxResult) -> None:
        assert text in result.stdout, result.stdout + result.stderr

    return check


def output_capped(result: SandboxResult) -> None:
    assert len(result.stdout.encode()) <= LIMITS.output_bytes
    assert len(result.stderr.encode()) <= LIMITS.output_bytes


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    statuses: frozenset[str]
    checks: tuple[Check, ...] = ()
    harness: str | None = None
    limits: Limits = LIMITS


def case(
    name: str,
    code: str,
    *statuses: str,
    checks: tuple[Check, ...] = (),
    harness: str | None = None,
    limits: Limits | None = None,
) -> Case:
    chosen = limits or (LIMITS if "timeout" in statuses else UNTIMED)
    return Case(name, code, frozenset(statuses), checks, harness, chosen)


CASES = [
    # --- time ---
    case("infinite_loop", "while True:\n    pass", "timeout"),
    case(
        "busy_cpu_in_threads",
        "import threading\ndef spin():\n    while True:\n        pass\n"
        "for _ in range(4):\n    threading.Thread(target=spin, daemon=True).start()\nspin()",
        "timeout",
    ),
    case("sleep_forever", "import time\ntime.sleep(10**6)", "timeout"),
    case(
        "ignores_sigterm_then_sleeps",
        "import signal, time\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\ntime.sleep(10**6)",
        "timeout",
    ),
    case("stops_itself", "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", "timeout"),
    # --- memory, processes, threads ---
    case(
        "memory_bomb",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 2**20))",
        "memory",
        limits=MEMORY_LIMITED,
    ),
    case("huge_allocation", "x = ' ' * (2**40)", "memory"),
    case(
        "fork_bomb",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        "timeout",
    ),
    case(
        "thread_bomb",
        "import threading, time\nwhile True:\n"
        "    threading.Thread(target=time.sleep, args=(100,), daemon=True).start()",
        "failed",
    ),
    # --- network ---
    case(
        "connect_to_listening_localhost",
        "import socket\nfor host in ('127.0.0.1', '::1', 'localhost'):\n    try:\n"
        "        socket.create_connection((host, $port), timeout=2).sendall(b'pwned')\n"
        "        print('CONNECTED', host)\n    except OSError as e:\n        print(type(e).__name__)",
        "ok",
        checks=(stdout_lacks("CONNECTED"),),
    ),
    case(
        "udp_to_localhost",
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.sendto(b'pwned', ('127.0.0.1', $udp_port))\nprint('SENT')",
        "failed",
        checks=(stdout_lacks("SENT"),),
    ),
    case(
        "abstract_unix_socket",
        "import socket\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect('\\0$abstract')\nprint('CONNECTED')",
        "failed",
        checks=(stdout_lacks("CONNECTED"),),
    ),
    case("dns_lookup", "import socket\nprint(socket.getaddrinfo('pypi.org', 443))", "failed"),
    case(
        "http_request",
        "import urllib.request\nprint(urllib.request.urlopen('http://example.com', timeout=3).status)",
        "failed",
    ),
    # --- secrets ---
    case("read_environ", "import os\nprint(os.environ.get('$secret_name'))\nprint(dict(os.environ))", "ok"),
    case(
        "read_parent_proc_environ",
        "import os\nfor pid in (os.getppid(), 1, $parent_pid):\n    try:\n"
        "        print(open(f'/proc/{pid}/environ', 'rb').read())\n    except OSError as e:\n"
        "        print(type(e).__name__)",
        "ok",
    ),
    case(
        "scan_every_proc_environ",
        "import os\nfor pid in os.listdir('/proc'):\n    for part in ('environ', 'cmdline'):\n        try:\n"
        "            print(pid, open(f'/proc/{pid}/{part}', 'rb').read())\n        except OSError:\n"
        "            pass",
        "ok",
    ),
    # --- files ---
    case(
        "overwrite_canaries",
        "for path in ('$canary_repo', '$canary_tmp'):\n    try:\n        open(path, 'w').write('pwned')\n"
        "        print('WROTE', path)\n    except OSError as e:\n        print(type(e).__name__)",
        "ok",
        checks=(stdout_lacks("WROTE"),),
    ),
    case(
        "delete_canaries",
        "import os, shutil\nfor path in ('$canary_repo', '$canary_tmp'):\n    try:\n        os.remove(path)\n"
        "        print('DELETED', path)\n    except OSError as e:\n        print(type(e).__name__)\n"
        "shutil.rmtree('$canary_dir_repo', ignore_errors=True)",
        "ok",
        checks=(stdout_lacks("DELETED"),),
    ),
    case(
        "new_file_next_to_canary",
        "open('$canary_dir_repo/new-$marker', 'w').write('x')",
        "failed",
    ),
    case("write_into_parent_cwd", "open('$parent_cwd/pwned-$marker', 'w').write('pwned')", "failed"),
    case(
        "open_system_files_for_append",
        "for path in ('/etc/passwd', '/etc/hosts', '$parent_cwd/pyproject.toml'):\n    try:\n"
        "        open(path, 'a')\n        print('OPENED', path)\n    except OSError as e:\n"
        "        print(type(e).__name__)",
        "ok",
        checks=(stdout_lacks("OPENED"),),
    ),
    case(
        "chdir_to_root_and_delete",
        "import os, shutil\nos.chdir('/')\n"
        "shutil.rmtree('$canary_dir_repo'.lstrip('/'), ignore_errors=True)\n"
        "for path in ('$canary_repo', '$canary_tmp'):\n    try:\n        os.unlink(path.lstrip('/'))\n"
        "        print('DELETED')\n    except OSError:\n        pass",
        "ok",
        checks=(stdout_lacks("DELETED"),),
    ),
    case(
        "huge_file",
        "with open('big.bin', 'wb') as f:\n    for _ in range(1024):\n        f.write(bytes(2**20))",
        "failed",
    ),
    case(
        "fill_tmp_with_many_files",
        "i = 0\nwhile True:\n    open(f'/tmp/$marker-{i}', 'wb').write(bytes(2**20))\n    i += 1",
        "failed",
    ),
    # --- the parent and other processes ---
    case(
        "kill_parent",
        "import os, signal\nfor pid in (os.getppid(), $parent_pid, $sentinel_pid):\n    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n        print('KILLED', pid)\n    except OSError as e:\n"
        "        print(type(e).__name__)",
        "ok",
        checks=(stdout_lacks("KILLED"),),
    ),
    case(
        "killpg_parent_group_then_own",
        "import os, signal\ntry:\n    os.killpg($parent_pgid, signal.SIGKILL)\nexcept OSError as e:\n"
        "    print(type(e).__name__)\nos.killpg(0, signal.SIGKILL)",
        "killed",
    ),
    case("kill_every_process_it_can", "import os, signal\nos.kill(-1, signal.SIGKILL)", "failed", "killed"),
    case(
        "daemonised_grandchild",
        "import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        os.execv('/bin/sh', ['/bin/sh', '-c', 'sleep 600; echo $marker'])\n    os._exit(0)\n"
        "print('parent exits')",
        "ok",
    ),
    case(
        "background_subprocess",
        "import subprocess\nsubprocess.Popen(['/bin/sh', '-c', 'sleep 600; : $marker'], start_new_session=True)",
        "ok",
    ),
    # --- output ---
    case(
        "print_gigabytes",
        "import sys\nchunk = 'x' * 2**20\nfor _ in range(4096):\n    sys.stdout.write(chunk)",
        "output_limit",
        checks=(output_capped,),
    ),
    case(
        "stderr_flood",
        "import os\nwhile True:\n    os.write(2, b'e' * 65536)",
        "output_limit",
        checks=(output_capped,),
    ),
    # --- exits and crashes ---
    case("sys_exit_code", "import sys\nsys.exit(3)", "failed", checks=(returncode(3),)),
    case("segfault_via_ctypes", "import ctypes\nctypes.string_at(0)", "crashed", checks=(returncode(-11),)),
    case("abort", "import os\nos.abort()", "crashed", checks=(returncode(-6),)),
    case("recursion_limit", "def f(n):\n    return f(n + 1)\nf(0)", "failed"),
    case(
        "c_stack_overflow",
        # Hashing nested tuples recurses in C with no recursion check: the C stack overflows.
        "x = ()\nfor _ in range(3 * 10**5):\n    x = (x,)\nprint(hash(x))",
        "crashed",
        checks=(returncode(-11),),
    ),
    case("read_stdin", "print(input())", "failed"),
    # --- privileges and limits ---
    case(
        "raise_rlimits_back_up",
        "import resource\nfor r in (resource.RLIMIT_AS, resource.RLIMIT_NPROC, resource.RLIMIT_CPU):\n"
        "    resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))",
        "failed",
    ),
    case("become_root", "import os\nos.setuid(0)", "failed"),
    case(
        "undo_the_mounts",
        "import ctypes\nlibc = ctypes.CDLL(None)\n"
        "print(libc.mount(None, b'/', None, 32 | 4096, None), libc.umount2(b'/tmp', 2))",
        "ok",
        checks=(stdout_has("-1 -1"),),
    ),
    case(
        "close_the_sandbox_pipes_then_pass",
        "import os\nos.closerange(3, 1024)",
        "failed",
        harness="assert True",
    ),
]


@pytest.mark.parametrize("hostile", CASES, ids=[c.name for c in CASES])
def test_hostile_program(hostile: Case, host: Host) -> None:
    code = Template(hostile.code).substitute(host.values)
    result = run_program(code, harness=hostile.harness, limits=hostile.limits)
    assert result.status in hostile.statuses, f"{result.status}: {result.reason}\n{result.stderr[-2000:]}"
    for check in hostile.checks:
        check(result)
    host.assert_unharmed(result)


def test_there_are_enough_hostile_programs() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 25


def test_host_checks_can_fail(host: Host) -> None:
    """The checks above are not vacuous: a process with the marker, started outside the sandbox, is seen."""
    straggler = subprocess.Popen(
        ["/bin/sh", "-c", f"echo ready; sleep 600; : {host.marker}"], start_new_session=True, stdout=subprocess.PIPE
    )
    try:
        # The shell has exec'd and carries the marker once it speaks: a handshake, not a timed poll.
        assert straggler.stdout.readline() == b"ready\n"
        assert host.leftovers()
    finally:
        os.killpg(straggler.pid, signal.SIGKILL)  # the shell and its sleep
        straggler.wait()
    # The shell's child, killed between its fork and its exec of sleep, still carries the marker until the kernel
    # has torn it down and init reaped it; on a loaded machine that is not instant. Wait for what must happen.
    deadline = time.monotonic() + 30
    while host.leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host.leftovers() == []


TOOL_CASES = [c for c in CASES if c.harness is None]


@pytest.mark.parametrize("hostile", TOOL_CASES, ids=[c.name for c in TOOL_CASES])
def test_hostile_program_through_the_python_tool(hostile: Case, host: Host) -> None:
    """The same programs sent as a model's python tool call: contained the same way, answered with a message."""
    code = Template(hostile.code).substitute(host.values)
    run = python_tool(code, limits=hostile.limits)
    assert run.result is not None
    assert run.result.status in hostile.statuses, f"{run.result.status}: {run.result.reason}"
    for check in hostile.checks:
        check(run.result)
    host.assert_unharmed(run.result)
    assert run.error == (run.result.status != "ok")
    assert host.secret not in run.text
    assert len(run.text.encode()) <= 2 * LIMITS.output_bytes  # stdout and the reason, each capped by the sandbox
