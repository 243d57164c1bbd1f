"""The sandbox side of a run: `python -I -S -B -c "...; child.main()" STATUS_FD`, config on stdin.

This file runs in a fresh interpreter, so it imports only the standard library, and as little of it as
possible: interpreter start-up dominates the cost of a run (json alone would add ~14 ms for `re`; marshal
and the `_signal` builtin cost nothing). The parent imports it only for the record names and `encode_config`.

Three processes, so that isolation is set up by trusted code and torn down by the kernel:
  B (this process, the parent's uid): enters new namespaces, builds the mounts, forks C, exits with C's code.
  C (pid 1 of the new pid namespace): mounts a fresh /proc, forks D, reaps until D exits, reports D's exit.
    When C exits the kernel kills everything left in the namespace, daemonised grandchildren included.
  D: sets rlimits, drops privileges for good, then runs the program and the harness in-process.
Records for the parent go to STATUS_FD as "<nonce> <event> <payload>" lines (atomic below PIPE_BUF).
"""

# pathlib would pull in re, fnmatch and urllib (~10 ms per run), contextlib collections and functools: this
# file stays with os.path and plain try/except.
# ruff: noqa: PTH103, PTH118, PTH123, PTH208, SIM105

from __future__ import annotations

import marshal
import os
import sys

# No `typing` import: it alone would add ~20 ms (it pulls in `re`) to every run. The config is the dict
# the parent marshals; functions marked "never returns" end in os._exit.
Config = dict

READY = "ready"  # payload: isolation facts "netns=1 pidns=1 mountns=1 uid=N"
SETUP_ERROR = "setup_error"  # the sandbox failed before the program ran
SYNTAX_ERROR = "syntax_error"  # the program does not compile
HARNESS_ERROR = "harness_error"  # the harness does not compile
EXCEPTION = "exception"  # an uncaught exception: "TypeName: first line of message"
DONE = "done"  # program and harness ran to the end
EXIT = "exit"  # from C: "exit N cpu_s" or "signal N cpu_s"

SETUP_FAILED_CODE = 70
# The harness finds this in its globals: os.write as it was before the program ran, so results it reports
# cannot be rewritten by a program that monkeypatches os.write.
HARNESS_WRITE = "__sandbox_write__"
_pristine_write = os.write

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_KEPT_ATIME_FLAGS = 1024 | 2048 | 4096  # MS_NOATIME | MS_NODIRATIME | MS_RELATIME
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPSET = 126  # x86_64; elsewhere the capset call fails and is reported, never silently skipped
_PR_SET_NO_NEW_PRIVS = 38
_SIGINT = 2


def encode_config(config: Config) -> bytes:
    return marshal.dumps(config)


class _Reporter:
    def __init__(self, fd: int, nonce: str) -> None:
        self.fd = fd
        self.nonce = nonce

    def send(self, event: str, payload: str = "") -> None:
        line = f"{self.nonce} {event} {' '.join(payload.split())[:400]}\n"
        # If the program closed or broke the pipe, the parent sees the record missing.
        try:
            os.write(self.fd, line.encode("utf-8", "replace"))
        except OSError:
            pass


class _Libc:
    """The few syscalls Python 3.11 has no wrapper for (os.unshare arrived in 3.12)."""

    def __init__(self) -> None:
        import ctypes

        self._ctypes = ctypes
        self._libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            errno = self._ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), "unshare")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
        def encode(text: str | None) -> bytes | None:
            return None if text is None else text.encode()

        rc = self._libc.mount(encode(source), target.encode(), encode(fstype), flags, encode(data or None))
        self._check(rc, f"mount {target}")

    def drop_capabilities(self) -> None:
        # Inside our own user namespace D would still hold every capability over it (it could undo our
        # mounts); capset to nothing and no_new_privs make it an ordinary process of the calling user.
        header = (self._ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (self._ctypes.c_uint32 * 6)()
        self._check(self._libc.syscall(_SYS_CAPSET, header, data), "capset")
        self._check(self._libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def _enter_namespaces(libc: _Libc, cfg: Config) -> dict[str, bool]:
    facts = {"netns": False, "pidns": False, "mountns": False}
    wanted = {"netns": _CLONE_NEWNET, "pidns": _CLONE_NEWPID, "mountns": _CLONE_NEWNS}
    if cfg["uid"] is None:
        # Not root: only a user namespace grants the right to create the others.
        uid, gid = os.getuid(), os.getgid()
        try:
            libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWNS)
        except OSError:
            return facts
        maps = (("uid_map", f"{uid} {uid} 1"), ("setgroups", "deny"), ("gid_map", f"{gid} {gid} 1"))
        for path, text in maps:
            with open(f"/proc/self/{path}", "w") as f:
                f.write(text)
        return dict.fromkeys(facts, True)
    try:
        libc.unshare(_CLONE_NEWNET | _CLONE_NEWPID | _CLONE_NEWNS)
        return dict.fromkeys(facts, True)
    except OSError:
        pass
    for name, flag in wanted.items():
        try:
            libc.unshare(flag)
            facts[name] = True
        except OSError:
            pass
    return facts


def _build_mounts(libc: _Libc, cfg: Config) -> None:
    """Private mounts: read-only root, fresh tmpfs scratch dirs, and the interpreter made reachable."""
    libc.mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    # The interpreter can live under a directory the sandbox user may not enter (/root/.pyenv): cover that
    # directory with an empty tmpfs and bind just the interpreter's tree back at the same path. Opened first,
    # because the tmpfs hides them.
    roots = [root for _, group in cfg["rebind"] for root in group]
    sources = {root: os.open(root, os.O_PATH | os.O_DIRECTORY) for root in roots}
    for blocker, group in cfg["rebind"]:
        libc.mount("tmpfs", blocker, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=64k")
        for root in group:
            os.makedirs(root, exist_ok=True)
            libc.mount(f"/proc/self/fd/{sources[root]}", root, None, _MS_BIND | _MS_REC)
    for fd in sources.values():
        os.close(fd)
    size = f"size={cfg['tmpfs_kb']}k,nr_inodes=4096"
    for scratch in cfg["scratch"]:
        libc.mount("tmpfs", scratch, "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=1777,{size}")
    owner = "" if cfg["uid"] is None else f",uid={cfg['uid']},gid={cfg['gid']}"
    os.makedirs(cfg["workdir"], exist_ok=True)
    libc.mount("tmpfs", cfg["workdir"], "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=0700,{size}{owner}")
    # Per-mount flag, so only this namespace's view of / turns read-only; the host's stays writable. The
    # flags / already has are passed along: a user namespace may not clear them (statvfs's ST_* values are
    # the MS_* ones).
    kept = os.statvfs("/").f_flag & (_MS_NOSUID | _MS_NODEV | _MS_NOEXEC | _KEPT_ATIME_FLAGS)
    libc.mount(None, "/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | kept)


def _count_tasks(uid: int) -> int:
    """Threads of `uid` on the host: RLIMIT_NPROC counts all of them, not just the sandbox's."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1"))
    return total


def main() -> None:
    status_fd = int(sys.argv[1])
    cfg = marshal.loads(sys.stdin.buffer.read())
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    reporter = _Reporter(status_fd, cfg["nonce"])
    try:
        libc = _Libc()
        facts = _enter_namespaces(libc, cfg)
        if facts["mountns"]:
            _build_mounts(libc, cfg)
        extra_tasks = _count_tasks(os.getuid()) if cfg["uid"] is None else 0
    except Exception as exc:  # any failure here is the sandbox's, never the program's
        reporter.send(SETUP_ERROR, f"{type(exc).__name__}: {exc}")
        os._exit(SETUP_FAILED_CODE)
    pid = os.fork()
    if pid == 0:
        _reap(libc, cfg, facts, extra_tasks, reporter)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) % 256)


def _reap(libc: _Libc, cfg: Config, facts: dict[str, bool], extra_tasks: int, rep: _Reporter) -> None:
    """C: pid 1 of the namespace. Outlives D only long enough to report how D ended."""
    import _signal

    # As pid 1 this process ignores signals it has no handler for; Python's SIGINT handler is the one
    # exception, and the program must not be able to crash its reaper with it.
    _signal.signal(_SIGINT, _signal.SIG_IGN)
    if facts["pidns"] and facts["mountns"]:
        try:
            libc.mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        except OSError:
            facts["proc"] = False
    try:
        pid = os.fork()
    except OSError as exc:
        rep.send(SETUP_ERROR, f"fork: {exc}")
        os._exit(SETUP_FAILED_CODE)
    if pid == 0:
        _run_untrusted(libc, cfg, facts, extra_tasks, rep)
    while True:
        wpid, status, usage = os.wait4(-1, 0)
        if wpid == pid:
            break
    cpu = usage.ru_utime + usage.ru_stime
    if os.WIFSIGNALED(status):
        rep.send(EXIT, f"signal {os.WTERMSIG(status)} {cpu:.3f}")
        os._exit(128 + os.WTERMSIG(status))
    rep.send(EXIT, f"exit {os.WEXITSTATUS(status)} {cpu:.3f}")
    os._exit(os.WEXITSTATUS(status))


def _drop_privileges(libc: _Libc, cfg: Config, facts: dict[str, bool], extra_tasks: int) -> None:
    import resource

    for res, soft, hard in cfg["rlimits"]:
        if res == resource.RLIMIT_NPROC:
            soft, hard = soft + extra_tasks, hard + extra_tasks
        resource.setrlimit(res, (soft, hard))
    uid, gid = cfg["uid"], cfg["gid"]
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid) or os.getgroups():
            raise RuntimeError("privilege drop did not take")
        try:
            os.setuid(0)
        except PermissionError:
            pass
        else:
            raise RuntimeError("could regain root after dropping privileges")
    elif facts["netns"]:
        # Not root: all namespaces came from one user namespace, whose capabilities D must not keep.
        libc.drop_capabilities()
    # The program must be able to import the standard library as the sandbox user; if it cannot, every
    # import would fail and look like the program's fault.
    if not os.access(cfg["probe"], os.R_OK):
        raise RuntimeError(f"the sandbox user cannot read {cfg['probe']}")


def _run_untrusted(
    libc: _Libc, cfg: Config, facts: dict[str, bool], extra_tasks: int, rep: _Reporter
) -> None:
    """D: becomes the sandbox user, then runs the program and the harness."""
    import _signal

    # C ignores SIGINT; the program gets Python's usual KeyboardInterrupt back.
    _signal.signal(_SIGINT, _signal.default_int_handler)
    try:
        _drop_privileges(libc, cfg, facts, extra_tasks)
        os.chdir(cfg["workdir"])
        sources = [("program.py", cfg["program"])]
        if cfg["harness"] is not None:
            sources.append(("harness.py", cfg["harness"]))
        paths = []
        for name, text in sources:
            path = os.path.join(cfg["workdir"], name)
            # On disk so tracebacks can show the offending source lines.
            with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(text)
            paths.append((path, text))
    except Exception as exc:
        rep.send(SETUP_ERROR, f"{type(exc).__name__}: {exc}")
        os._exit(SETUP_FAILED_CODE)
    uid = os.getuid()
    rep.send(READY, " ".join(f"{k}={int(v)}" for k, v in facts.items()) + f" uid={uid}")
    cfg.clear()  # nothing left for the program to find but its own source

    import builtins

    main_module = type(sys)("__main__")
    main_module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main_module
    for index, (path, text) in enumerate(paths):
        is_harness = index == 1
        main_module.__file__ = path
        sys.argv = [path]
        if is_harness:
            setattr(main_module, HARNESS_WRITE, _pristine_write)
        try:
            code = compile(text, path, "exec")
        except (SyntaxError, ValueError) as exc:
            rep.send(HARNESS_ERROR if is_harness else SYNTAX_ERROR, f"{type(exc).__name__}: {exc}")
            _print_exception(exc)
            _finish(1)
        try:
            exec(code, main_module.__dict__)
        except SystemExit as exc:
            exit_code = _exit_code(exc)
            # sys.exit(0) in the program skips the harness: that must not count as passing the tests.
            if exit_code == 0 and (is_harness or len(paths) == 1):
                rep.send(DONE)
            _finish(exit_code)
        except BaseException as exc:
            rep.send(EXCEPTION, _describe(exc))
            _print_exception(exc)
            _finish(1)
    rep.send(DONE)
    _finish(0)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    _write_stderr(f"{exc.code}\n")
    return 1


def _describe(exc: BaseException) -> str:
    try:
        message = str(exc).strip().splitlines()
    except Exception:
        message = []
    return f"{type(exc).__name__}: {message[0][:300]}" if message else type(exc).__name__


def _print_exception(exc: BaseException) -> None:
    try:
        # Skip our own frame so the traceback starts in the program.
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        sys.__excepthook__(type(exc), exc.with_traceback(tb), tb)
    except BaseException:
        _write_stderr(f"{_describe(exc)}\n")


def _write_stderr(text: str) -> None:
    try:
        os.write(2, text.encode("utf-8", "replace"))
    except OSError:
        pass


def _finish(code: int) -> None:
    """What interpreter shutdown would do for the program: atexit, non-daemon threads, flushed streams."""
    try:
        import atexit

        atexit._run_exitfuncs()
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
