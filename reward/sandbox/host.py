"""Facts about the host that decide how a run is isolated; computed once per process."""

from __future__ import annotations

import functools
import os
import stat
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# World-writable places an unprivileged user could otherwise fill or use to leave files behind; each gets a
# fresh, size-capped tmpfs inside the sandbox's mount namespace.
_SCRATCH_CANDIDATES = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


@dataclass(frozen=True)
class HostPlan:
    interpreter: str
    """The real interpreter binary (symlinks resolved, so a venv's python runs without its site-packages)."""
    as_root: bool
    """Running as root: the child drops to a leased unprivileged uid."""
    rebind: tuple[tuple[str, tuple[str, ...]], ...]
    """(blocking directory, interpreter trees under it): directories the sandbox user cannot enter (e.g.
    /root, mode 0700) that hide the interpreter; the child covers each with a tmpfs, binds the trees back."""
    probe: str
    """A standard-library file the sandbox user must be able to read, checked after the privilege drop."""
    scratch: tuple[str, ...]


def _needed_roots() -> list[str]:
    interpreter = os.path.realpath(sys.executable)
    candidates = {
        os.path.realpath(sys.base_prefix),
        str(Path(interpreter).parent),
        os.path.realpath(sysconfig.get_paths()["stdlib"]),
        os.path.realpath(sysconfig.get_paths()["platstdlib"]),
    }
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        candidates.add(os.path.realpath(str(sysconfig.get_config_var("LIBDIR"))))
    # Keep only the outermost: binding a prefix binds everything under it.
    return sorted(c for c in candidates if not any(c != o and c.startswith(o + os.sep) for o in candidates))


def _blocker(path: str) -> str | None:
    """The outermost ancestor of `path` that other users may not traverse, or None if all of them may."""
    parts = Path(path).parts
    for depth in range(1, len(parts)):
        ancestor = str(Path(*parts[:depth]))
        if not Path(ancestor).stat().st_mode & stat.S_IXOTH:
            return ancestor
    return None


@functools.cache
def host_plan() -> HostPlan:
    as_root = os.geteuid() == 0
    rebind: dict[str, list[str]] = {}
    if as_root:
        for root in _needed_roots():
            blocker = _blocker(root)
            if blocker is not None:
                rebind.setdefault(blocker, []).append(root)
    scratch = []
    for candidate in _SCRATCH_CANDIDATES:
        real = os.path.realpath(candidate)
        if Path(real).is_dir() and real not in scratch:
            scratch.append(real)
    return HostPlan(
        interpreter=os.path.realpath(sys.executable),
        as_root=as_root,
        rebind=tuple((blocker, tuple(roots)) for blocker, roots in sorted(rebind.items())),
        probe=str(Path(sysconfig.get_paths()["stdlib"], "os.py").resolve()),
        scratch=tuple(scratch),
    )
