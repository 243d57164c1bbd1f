"""Run-time facts that are not part of the recipe: where things go, what device and precision are used."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from align.artifacts.contract import is_complete, read_manifest
from align.artifacts.integrity import verify_checksums
from align.runtime.errors import AlignError

if TYPE_CHECKING:
    from align.config.schema import Recipe, StageBase

S = TypeVar("S", bound="StageBase")


def resolve_precision(choice: str) -> str:
    """auto = bf16 where the GPU has it, fp16 on older GPUs, fp32 on CPU (bf16 on CPU is slower, not faster)."""
    if choice != "auto":
        return choice
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


@dataclass
class StageContext:
    recipe: Recipe
    stage: StageBase
    run_dir: Path
    base_model: str  # a loadable location (converted builtin folder, local folder, or hub name)
    resume_from: Path | None = None  # the newest whole Trainer checkpoint of an interrupted run
    resuming: bool = False  # an interrupted run of the same configuration left its folder to reuse
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def stage_dir(self) -> Path:
        return self.run_dir / self.stage.name

    @property
    def checkpoint_dir(self) -> Path:
        return self.stage_dir / "checkpoints"

    @property
    def tensorboard_dir(self) -> Path:
        return self.run_dir / "tb" / self.stage.name

    def typed_stage(self, kind: type[S]) -> S:
        """The stage as its own kind's schema (the runner picked this stage's package by that kind)."""
        if not isinstance(self.stage, kind):
            raise TypeError(f"stage {self.stage.name} is a {type(self.stage).__name__}, not a {kind.__name__}")
        return self.stage

    def artifact(self, name: str) -> Path:
        """The folder of an earlier, completed stage; the recipe schema already checked the name is earlier."""
        folder = self.run_dir / name
        if not is_complete(folder):
            raise AlignError(
                f"stages.{self.stage.name}: needs stage '{name}', which has not completed in {self.run_dir}; "
                f"run it first (drop --stages, or add {name} to it)"
            )
        manifest = read_manifest(folder)
        verify_checksums(folder, manifest.checksums if manifest else None)
        return folder
