"""Resource limits for one sandboxed run."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one run of untrusted code may use. Every limit applies to the program and all its children."""

    timeout_s: float = 5.0
    """Wall-clock seconds from the moment the program starts (interpreter start-up is not charged to it).
    On expiry the whole process tree is killed with SIGKILL and the status is "timeout"."""

    cpu_s: float | None = None
    """CPU seconds per process (RLIMIT_CPU, rounded up to whole seconds); None means `timeout_s`. A busy loop
    hits this even when the machine is so loaded that wall clock alone would let it run on."""

    memory_mb: int = 512
    """Address space per process (RLIMIT_AS), in MiB. Allocations beyond it fail with MemoryError. Address
    space, not resident memory: threads reserve stack address space, so thread-heavy code needs more."""

    max_processes: int = 64
    """Processes and threads the program may have at once (RLIMIT_NPROC): the fork-bomb and thread-bomb
    guard. Counted per sandbox user, and every concurrent run gets its own user when the host runs as root."""

    file_size_mb: int = 16
    """Largest file the program may write (RLIMIT_FSIZE), in MiB. Where a private mount namespace is
    available it also caps each of the sandbox's scratch filesystems (the working directory, /tmp, /var/tmp,
    /dev/shm), so many files cannot fill the disk either."""

    output_bytes: int = 256 * 1024
    """Bytes of stdout and of stderr kept. A program that writes more is killed at once (status
    "output_limit"): the parent never holds more than this per stream, whatever the program prints."""

    open_files: int = 256
    """File descriptors per process (RLIMIT_NOFILE)."""

    def __post_init__(self) -> None:
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {self.timeout_s}")
        if self.cpu_s is not None and not (self.cpu_s > 0 and math.isfinite(self.cpu_s)):
            raise ValueError(f"cpu_s must be a positive number of seconds or None, got {self.cpu_s}")
        # Below this the interpreter itself cannot start; a limit that fails every program is a config error.
        if self.memory_mb < 64:
            raise ValueError(f"memory_mb must be at least 64, got {self.memory_mb}")
        for name in ("max_processes", "file_size_mb", "output_bytes", "open_files"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def effective_cpu_s(self) -> float:
        return self.timeout_s if self.cpu_s is None else self.cpu_s


DEFAULT_LIMITS = Limits()
