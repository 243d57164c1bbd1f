"""Read a run folder: which stage artifacts it holds, in the order they finished.

A run folder is recognised by its contents (stage folders with a manifest or a running marker), not its
name, so `--run-dir` anywhere works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from align.artifacts import MANIFEST, RUNNING, is_complete, read_manifest

ADAPTER_KINDS = ("sft", "dpo", "grpo")


@dataclass(frozen=True)
class StageFolder:
    name: str
    path: Path
    manifest: dict[str, Any]  # empty for an interrupted stage, which has no manifest yet
    complete: bool

    @property
    def kind(self) -> str:
        return self.manifest.get("kind", "?")

    @property
    def init(self) -> str | None:
        return (self.manifest.get("config") or {}).get("init")


def is_stage_dir(path: Path) -> bool:
    return (path / MANIFEST).is_file() or (path / RUNNING).is_file()


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and not is_stage_dir(path) and any(is_stage_dir(p) for p in path.iterdir() if p.is_dir())


def stage_folders(run_dir: Path) -> list[StageFolder]:
    """Finished stages in the order they finished (which follows the recipe), then interrupted ones."""
    stages = []
    for path in sorted(p for p in run_dir.iterdir() if p.is_dir() and is_stage_dir(p)):
        stages.append(StageFolder(path.name, path, read_manifest(path) or {}, is_complete(path)))
    return sorted(stages, key=lambda s: (not s.complete, s.manifest.get("finished_at") or _started(s.path)))


def _started(path: Path) -> str:
    try:
        return json.loads((path / RUNNING).read_text()).get("started_at", "")
    except (FileNotFoundError, json.JSONDecodeError):
        return ""
