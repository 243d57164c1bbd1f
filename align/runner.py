"""Run a recipe's stages in order: skip what is done, resume what was interrupted, record what ran."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from align import __version__
from align.artifacts.contract import (
    RUNNING,
    Manifest,
    digest_path,
    fingerprint,
    git_sha,
    is_complete,
    is_resumable,
    last_checkpoint,
    mark_complete,
    package_versions,
    read_manifest,
    write_json_atomic,
)
from align.artifacts.integrity import checksums, disk_bytes, verify_checksums
from align.config.init_ref import init_kind, is_external
from align.config.schema import DataSpec, Recipe, Stage
from align.models.load import resolve_model
from align.runtime import distributed
from align.runtime.context import StageContext
from align.runtime.errors import AlignError
from align.stages import runner_for

log = logging.getLogger(__name__)


@dataclass
class StageOutcome:
    name: str
    kind: str
    status: str  # ran | resumed | skipped (done, config unchanged) | not selected
    path: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0


def plan(recipe: Recipe, only: list[str] | None, until: str | None) -> list[tuple[Stage, bool]]:
    """Each stage up to `until`, with whether it was selected to run (all of them unless --stages is given)."""
    names = [s.name for s in recipe.stages]
    for name in [*(only or []), *([until] if until else [])]:
        if name not in names:
            raise AlignError(f"no stage named '{name}' in recipe '{recipe.name}' (stages: {', '.join(names)})")
    stages = recipe.stages[: names.index(until) + 1] if until else list(recipe.stages)
    return [(s, only is None or s.name in only) for s in stages]


HUB_INPUT = "hub:"


def input_digests(stage: Stage) -> dict[str, str]:
    """What the stage reads from outside the run: local data and adapter folders by content, hub ones by name."""
    digests = {}
    for key in type(stage).model_fields:
        value = getattr(stage, key)
        # A list of specs (a GRPO stage's prompt sources) counts each one as `key.N`; one spec stays `key`.
        specs = {key: value} if isinstance(value, DataSpec) else {}
        if isinstance(value, list) and value and all(isinstance(item, DataSpec) for item in value):
            specs = {f"{key}.{index}": item for index, item in enumerate(value)}
        for name, spec in specs.items():
            path = Path(spec.path)
            digests[name] = digest_path(path) if path.exists() else f"{HUB_INPUT}{spec.path}:{spec.subset}:{spec.split}"
    init = getattr(stage, "init", None)
    if isinstance(init, str) and init_kind(init) == "folder":
        digests["init"] = digest_path(Path(init))
    elif isinstance(init, str) and init_kind(init) == "hub":
        digests["init"] = f"{HUB_INPUT}{init}"
    return digests


def stage_fingerprint(stage: Stage, upstream: str, inputs: dict[str, str], by_path: bool = False) -> str:
    """Changes when the stage's config, its input data, or anything upstream of it changes.

    A local file counts by its content (`inputs`), not by the absolute path the loader resolved it to, so a run
    folder copied to another checkout or machine keeps its finished stages. `by_path` is the fingerprint stages
    were stamped with before the path was left out; run_recipe accepts it so that they stay done (or resume)
    where they lie.
    """
    config = stage.model_dump(mode="json", exclude=set(stage.cosmetic))
    if not by_path:
        for key, digest in inputs.items():
            if digest.startswith(HUB_INPUT):
                continue
            field, _, index = key.partition(".")
            if index:  # one spec of a list
                config[field][int(index)]["path"] = None
            elif isinstance(config[key], dict):
                config[key]["path"] = None
            else:  # an adapter folder named by its path alone
                config[key] = None
    return fingerprint({"config": config, "inputs": inputs, "upstream": upstream})


# Errors of the machine, not of align: reported as one line naming the path, like a bad recipe key.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR}


def prepare_run_dir(run_dir: Path) -> None:
    """Create the run folder and prove it writable before any model loads."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test."):
            pass
    except OSError as err:
        where = err.filename or run_dir
        raise AlignError(f"{where}: cannot create or write the run folder ({err.strerror})") from None


# Libraries written in Rust (tokenizers, safetensors) raise a plain Exception ending "(os error 28)"; torch's
# checkpoint writer a RuntimeError "file write failed" with no errno at all.
RUST_IO_ERROR = re.compile(r"\(os error (\d+)\)")
NEARLY_FULL_BYTES = 1 << 20


def disk_error(err: Exception, stage_dir: Path) -> AlignError | None:
    """The one line for an error of the disk under the stage folder, or None when `err` is something else."""
    if isinstance(err, AlignError):
        return None  # already one line
    if isinstance(err, OSError):
        if err.errno not in DISK_ERRNOS:
            return None
        where, why = err.filename or stage_dir, err.strerror or str(err)
    else:
        rust = RUST_IO_ERROR.search(str(err))
        if rust and int(rust.group(1)) in DISK_ERRNOS:
            where, why = stage_dir, os.strerror(int(rust.group(1)))
        elif "write" in str(err).lower() and _free_bytes(stage_dir) < NEARLY_FULL_BYTES:
            where, why = stage_dir, os.strerror(errno.ENOSPC)
        else:
            return None
    return AlignError(
        f"{where}: {why} — the stage stopped; free space or fix permissions and re-run the same command to resume"
    )


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return NEARLY_FULL_BYTES


def run_recipe(
    recipe: Recipe, run_dir: Path, only: list[str] | None = None, until: str | None = None, force: bool = False
) -> list[StageOutcome]:
    """`force`: start stages whose memory estimate says they will not fit the GPU."""
    planned = plan(recipe, only, until)
    upstream = legacy = fingerprint(model_identity(recipe))
    base_model: str | None = None
    outcomes = []
    for stage, selected in planned:
        inputs = input_digests(stage)
        upstream = stage_fingerprint(stage, upstream, inputs)
        legacy = stage_fingerprint(stage, legacy, inputs, by_path=True)
        accepted = (upstream, legacy)
        stage_dir = run_dir / stage.name
        if distributed.decide(partial(_finished, stage_dir, accepted)):
            manifest = read_manifest(stage_dir)
            metrics = manifest.metrics if manifest else {}
            # Skipping a stage means trusting its files for every later stage: check them now.
            verify_checksums(stage_dir, manifest.checksums if manifest else None)
            outcomes.append(StageOutcome(stage.name, stage.kind, "skipped", stage_dir, metrics))
            log.info("stage %s: done already, config unchanged — skipped", stage.name)
            continue
        if not selected:
            outcomes.append(StageOutcome(stage.name, stage.kind, "not selected", stage_dir))
            continue
        if base_model is None:
            with distributed.main_first():  # the main process converts the builtin model into the cache
                base_model = resolve_model(recipe.model)
        try:
            outcomes.append(_run_stage(recipe, stage, run_dir, base_model, accepted, inputs, force))
        except Exception as err:
            found = disk_error(err, stage_dir)
            if found is None:
                raise
            raise found from None
    return outcomes


def _finished(stage_dir: Path, fingerprints: tuple[str, ...]) -> bool:
    return any(is_complete(stage_dir, expected) for expected in fingerprints)


def _interrupted(stage_dir: Path, fingerprints: tuple[str, ...]) -> tuple[bool, Path | None]:
    """Whether the folder holds an interrupted run stamped with one of `fingerprints`, and its newest checkpoint."""
    for expected in fingerprints:
        if is_resumable(stage_dir, expected):
            return True, last_checkpoint(stage_dir, expected)
    return False, None


def model_identity(recipe: Recipe) -> dict[str, Any]:
    """What decides the weights every stage starts from. Keys at their defaults are left out, so recipes written
    before 4-bit loading and model_options existed keep their fingerprints (and their finished stages)."""
    identity: dict[str, Any] = {
        "model": recipe.model,
        "lora": recipe.lora.model_dump(mode="json", exclude={"quantize", "target_parameters"}),
    }
    for key in ("quantize", "target_parameters"):
        if getattr(recipe.lora, key):
            identity["lora"][key] = getattr(recipe.lora, key)
    options = recipe.model_options.model_dump(mode="json", exclude_defaults=True)
    if options:
        identity["model_options"] = options
    return identity


def _run_stage(
    recipe: Recipe,
    stage: Stage,
    run_dir: Path,
    base_model: str,
    accepted: tuple[str, ...],
    inputs: dict[str, str],
    force: bool = False,
) -> StageOutcome:
    """`accepted`: the fingerprint to stamp, then the older ones an interrupted run of this config may carry."""
    from align.memory.check import preflight

    estimate = preflight(recipe, stage, base_model, force)
    stage_dir = run_dir / stage.name
    resuming, resume = _claim_stage_dir(stage_dir, accepted)
    log.info("stage %s (%s): %s → %s", stage.name, stage.kind, "resuming" if resuming else "running", stage_dir)
    ctx = StageContext(
        recipe=recipe, stage=stage, run_dir=run_dir, base_model=base_model, resume_from=resume, resuming=resuming
    )
    if estimate is not None:
        ctx.notes["memory_estimate_gib"] = {k: round(v / 2**30, 3) for k, v in estimate.parts.items()}
    started = time.monotonic()
    metrics = runner_for(stage.kind)(ctx).metrics()
    # Every rank has finished writing (the main process its artifact) before the stage is marked complete.
    distributed.barrier()
    wall = time.monotonic() - started
    upstream_refs = _upstream_refs(stage)
    manifest = Manifest(
        name=stage.name,
        kind=stage.kind,
        fingerprint=accepted[0],
        config=stage.model_dump(mode="json"),
        base_model=recipe.model,
        base_model_location=base_model,
        lora=recipe.lora.model_dump(mode="json"),
        model_options=recipe.model_options.model_dump(mode="json"),
        inputs={**inputs, **{ref: str(run_dir / name) for ref, name in upstream_refs.items()}},
        upstream_fingerprints={name: _fingerprint_of(run_dir / name) for name in upstream_refs.values()},
        metrics=metrics,
        notes=ctx.notes,
        checksums=checksums(stage_dir),
        disk_bytes=disk_bytes(stage_dir),
        wall_time_s=round(wall, 2),
        resumed_from=str(resume) if resume else None,
        finished_at=_now(),
        align_version=__version__,
        packages=package_versions(),
        git_sha=git_sha(),
        world_size=distributed.world_size(),
    )
    if distributed.is_main():
        mark_complete(stage_dir, manifest)
    # No rank starts the next stage (which reads this one's artifact) before the marker exists.
    distributed.barrier()
    log.info("stage %s: finished in %.1fs — %s", stage.name, wall, _short(metrics))
    return StageOutcome(stage.name, stage.kind, "resumed" if resuming else "ran", stage_dir, metrics, wall)


def _claim_stage_dir(stage_dir: Path, accepted: tuple[str, ...]) -> tuple[bool, Path | None]:
    """Whether the stage resumes and from which checkpoint, with its folder ready and marked running.

    An interrupted run of this configuration keeps its folder: Trainer checkpoints, stored pair batches and the
    prompt selection are the work a kill must not cost. Anything else there is stale. Decided once, by the main
    process: every rank must resume from the same checkpoint, or none."""
    resuming, resume = distributed.decide(partial(_interrupted, stage_dir, accepted))
    if distributed.is_main():
        if not resuming and stage_dir.exists():
            shutil.rmtree(stage_dir)
        stage_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(stage_dir / RUNNING, {"fingerprint": accepted[0], "started_at": _now()})
    distributed.barrier()
    return resuming, resume


def _upstream_refs(stage: Stage) -> dict[str, str]:
    """The stage's ref fields that name earlier stages of the run, with those names.

    A ref field may hold data instead of a stage name (dpo `pairs:`) or an adapter from outside the run (`init:`,
    already in `inputs` by its hash or hub name); only names are upstream stages."""
    return {
        ref: getattr(stage, ref)
        for ref in stage.refs
        if isinstance(getattr(stage, ref), str) and not (ref == "init" and is_external(getattr(stage, ref)))
    }


def _fingerprint_of(stage_dir: Path) -> str | None:
    manifest = read_manifest(stage_dir)
    return manifest.fingerprint if manifest else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _short(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(metrics.items())[:6])
