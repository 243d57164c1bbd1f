"""The adapter versions GRPO saves for its sampler (`rollout-adapter/step-N/`), kept only while they are read.

Each optimiser step saves the adapter for the rollout engine (vLLM in process or a server) to load; the engine
reads only the newest, and a resumed stage saves its own first, so older versions and — once the stage is
done — all of them are dead weight that would otherwise grow by one adapter per step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FOLDER = "rollout-adapter"


def rollout_adapter_dir(stage_dir: Path, step: int) -> Path:
    return stage_dir / FOLDER / f"step-{step}"


def prune_rollout_adapters(stage_dir: Path, keep: int) -> None:
    """Delete all but the `keep` newest step folders."""
    steps = sorted((stage_dir / FOLDER).glob("step-*"), key=lambda p: int(p.name.removeprefix("step-")))
    for old in steps[: max(len(steps) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def remove_rollout_adapters(stage_dir: Path) -> None:
    """At the end of the stage: the final adapter is saved, no engine reads these any more."""
    shutil.rmtree(stage_dir / FOLDER, ignore_errors=True)
