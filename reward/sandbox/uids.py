"""Unprivileged uids for sandboxed runs when the host runs as root, one per concurrent run.

A uid of its own per run, rather than a shared 'nobody', keeps RLIMIT_NPROC (counted per uid, host-wide)
from letting one fork bomb starve the other runs, and means a program signalling "all my processes" can
reach only its own. The range is one Debian reserves and never allocates (65000-65533), so no real account
owns these uids. Leases are flock()ed files, so separate processes on one host do not share a uid either.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

UID_RANGE = range(65000, 65534)

_lock = threading.Lock()
_held: set[int] = set()


def _lock_dir() -> Path:
    # Root-only and outside anything the sandbox can write (its /tmp is a private tmpfs).
    base = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
    path = Path(base, "align-sandbox-uids")
    path.mkdir(mode=0o700, exist_ok=True)
    return path


@contextmanager
def lease_uid() -> Iterator[int]:
    """A uid from UID_RANGE that no other run on this host holds until the block exits."""
    directory = _lock_dir()
    candidates = list(UID_RANGE)
    random.shuffle(candidates)
    for uid in candidates:
        with _lock:
            if uid in _held:
                continue
            _held.add(uid)
        fd = os.open(directory / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            with _lock:
                _held.discard(uid)
            continue
        try:
            yield uid
        finally:
            os.close(fd)  # closing releases the flock
            with _lock:
                _held.discard(uid)
        return
    raise RuntimeError(f"all {len(UID_RANGE)} sandbox uids are in use")
