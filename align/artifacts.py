"""Stage artifact folders: the only interface between stages.

A finished folder holds the adapter, the tokenizer, `manifest.json` and, written last, the `COMPLETE` marker.
A folder without the marker is an interrupted run: it is resumed from its last checkpoint when its
fingerprint still matches, and started afresh otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
MARKER = "COMPLETE"
RUNNING = "running.json"
CHECKPOINTS = "checkpoints"
TRACKED_PACKAGES = ("align", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "vllm")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a manifest behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_path(path: Path) -> str:
    """Content hash of a file, or of every file under a folder (names included)."""
    sha = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        sha.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()


def fingerprint(payload: dict[str, Any]) -> str:
    return digest_bytes(json.dumps(payload, sort_keys=True, default=str).encode())[:16]


def read_manifest(stage_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((stage_dir / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_complete(stage_dir: Path, expected_fingerprint: str | None = None) -> bool:
    if not (stage_dir / MARKER).is_file():
        return False
    manifest = read_manifest(stage_dir)
    if manifest is None:
        return False
    return expected_fingerprint is None or manifest.get("fingerprint") == expected_fingerprint


def last_checkpoint(stage_dir: Path, expected_fingerprint: str) -> Path | None:
    """The newest Trainer checkpoint of an interrupted run of the same configuration, if any."""
    try:
        running = json.loads((stage_dir / RUNNING).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if running.get("fingerprint") != expected_fingerprint:
        return None
    checkpoints = sorted((stage_dir / CHECKPOINTS).glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1]))
    return checkpoints[-1] if checkpoints else None


def mark_complete(stage_dir: Path, manifest: dict[str, Any]) -> None:
    write_json_atomic(stage_dir / MANIFEST, manifest)
    (stage_dir / MARKER).write_text(manifest["fingerprint"] + "\n")
    (stage_dir / RUNNING).unlink(missing_ok=True)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
