"""Checksums and disk footprint of a finished stage folder.

The manifest records the sha256 of every file the stage leaves for later stages; a stage that reads an earlier
artifact (and a re-run that would skip it) first checks them, so a truncated adapter or a deleted config is
reported with its path before any model loads, not as a crash three stages later.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from align.runtime.errors import AlignError

# Bookkeeping that changes after the checksums are taken, and resume state nobody reads once a stage is done.
NOT_CHECKSUMMED = {"manifest.json", "COMPLETE", "running.json"}
NOT_CHECKSUMMED_DIRS = {"checkpoints", "rollout-adapter", "batches"}


def _artifact_files(stage_dir: Path) -> list[Path]:
    files = []
    for path in sorted(stage_dir.rglob("*")):
        relative = path.relative_to(stage_dir)
        if not path.is_file() or relative.parts[0] in NOT_CHECKSUMMED_DIRS or str(relative) in NOT_CHECKSUMMED:
            continue
        if path.name.startswith("."):  # a temporary file of an interrupted atomic write
            continue
        files.append(path)
    return files


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def checksums(stage_dir: Path) -> dict[str, str]:
    """sha256 of each artifact file, keyed by its path relative to the stage folder."""
    return {str(p.relative_to(stage_dir)): file_sha256(p) for p in _artifact_files(stage_dir)}


def disk_bytes(folder: Path) -> int:
    """Bytes the folder takes on disk now, resume state included (what a user would `du`)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def verify_checksums(stage_dir: Path, recorded: dict[str, str] | None) -> None:
    """Raise AlignError naming the first file that is missing or differs from what the manifest recorded."""
    if recorded is None:
        return  # written by an align that did not record checksums
    for name, digest in sorted(recorded.items()):
        path = stage_dir / name
        if not path.is_file():
            raise AlignError(
                f"{path}: missing from the completed stage '{stage_dir.name}'; delete {stage_dir} to re-run it"
            )
        if file_sha256(path) != digest:
            raise AlignError(
                f"{path}: does not match the checksum in {stage_dir / 'manifest.json'} (corrupt or edited); "
                f"delete {stage_dir} to re-run the stage"
            )
