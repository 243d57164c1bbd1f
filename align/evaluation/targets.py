"""Turn what the user named (a run folder, one stage's artifact, or a model) into the policies to evaluate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from align.artifacts.contract import (
    ADAPTER_KINDS,
    EVAL_FILE,
    MANIFEST,
    MARKER,
    StageFolder,
    is_complete,
    is_run_dir,
    is_stage_dir,
    policy_stages,
    read_manifest,
)
from align.config.init_ref import adapter_rank, is_external
from align.models.load import resolve_model
from align.runtime.errors import AlignError


@dataclass(frozen=True)
class Policy:
    name: str  # "base", a stage name, or the model as named
    kind: str  # "base", "model", or the stage kind
    base_model: str  # as written in the recipe / on the command line
    location: str  # where it loads from (resolve_model)
    adapter: Path | None
    init: str | None = None  # the policy this one started from: its before/after comparison
    fingerprint: str | None = None  # a cached result is reused only while this is unchanged
    lora_rank: int = 16  # vLLM reserves room for adapters up to this rank


@dataclass(frozen=True)
class Target:
    kind: Literal["run", "stage", "model"]
    path: str
    policies: list[Policy]
    default_out: Path | None  # where results go without --out


def resolve_target(target: str | Path) -> Target:
    text = str(target)
    path = Path(text).expanduser()
    if path.is_dir() and is_run_dir(path):
        return _run_target(path.resolve())
    if path.is_dir() and is_stage_dir(path):
        if not is_complete(path):
            raise AlignError(f"{text}: this stage did not finish (no {MARKER} marker); re-run it first")
        stage = StageFolder(path.name, path.resolve(), read_manifest(path), True)
        return Target("stage", str(stage.path), [_stage_policy(stage, init=None)], None)
    if path.is_dir() and not (path / "config.json").is_file():
        raise AlignError(f"{text}: not a run folder, a stage artifact or a model folder")
    if not path.exists() and _meant_as_path(text):
        raise AlignError(f"{text}: no such folder")
    policy = Policy(name=text, kind="model", base_model=text, location=resolve_model(text), adapter=None)
    return Target("model", text, [policy], None)


def _meant_as_path(text: str) -> bool:
    """A hub name is `owner/name`; a path prefix, deeper nesting or an existing first folder mean a local path."""
    parts = Path(text).parts
    return text.startswith(("/", "./", "../", "~")) or len(parts) > 2 or (len(parts) == 2 and Path(parts[0]).is_dir())


def _run_target(run_dir: Path) -> Target:
    policies_stages = policy_stages(run_dir)
    if not policies_stages:
        raise AlignError(f"{run_dir}: no finished sft, dpo or grpo stage to evaluate")
    names = {s.name for s in policies_stages}
    policies = [_stage_policy(s, init=_started_from(s, names)) for s in policies_stages]
    first = policies[0]
    base = Policy("base", "base", first.base_model, first.location, None, fingerprint=f"base:{first.base_model}")
    return Target("run", str(run_dir), [base, *policies], run_dir / EVAL_FILE)


def _started_from(stage: StageFolder, evaluated: set[str]) -> str | None:
    """The evaluated policy a stage's before/after compares against: its init stage, else the base model (a fresh
    adapter starts there); none for an adapter trained elsewhere, which the run does not evaluate."""
    if is_external(stage.init):
        return None
    return stage.init if stage.init in evaluated else "base"


def _stage_policy(stage: StageFolder, init: str | None) -> Policy:
    if stage.kind not in ADAPTER_KINDS:
        raise AlignError(f"{stage.path}: a {stage.kind} stage has no policy to evaluate (sft, dpo or grpo do)")
    base_model = stage.manifest.base_model if stage.manifest else None
    if not base_model:
        raise AlignError(f"{stage.path / MANIFEST}: no base_model key")
    return Policy(
        name=stage.name,
        kind=stage.kind,
        base_model=base_model,
        location=resolve_model(base_model),
        adapter=stage.path,
        init=init,
        fingerprint=stage.manifest.fingerprint if stage.manifest else None,
        lora_rank=adapter_rank(stage.path, stage.manifest.lora_rank if stage.manifest else 16),
    )
