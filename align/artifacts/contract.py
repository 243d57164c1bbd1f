"""The artifact contract: the only interface between stages, shared by every writer and reader.

A run folder holds one folder per stage. A finished stage folder holds what its kind produces (the adapter and
tokenizer, or the files named in `KIND_FILES`), `manifest.json` (a `Manifest`) and, written last, the
`COMPLETE` marker. A folder without the marker is an interrupted run: it is resumed from its last checkpoint
when its fingerprint still matches, and started afresh otherwise. Every file name is defined here, once, and
run folders are read here (`stage_folders`), so the runner, the stages, evaluation and the report cannot drift.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from align.runtime.crashpoints import crash_point
from align.runtime.errors import AlignError

# Files of every stage folder.
MANIFEST = "manifest.json"
MARKER = "COMPLETE"
RUNNING = "running.json"
CHECKPOINTS = "checkpoints"
LOG_HISTORY = "log_history.json"  # the Trainer's log_history, written by every training stage
# Files particular to one kind.
PAIRS_FILE = "pairs.jsonl"
PAIR_STATS = "stats.json"
PROMPT_SELECTION = "prompt_selection.json"
COMPLETIONS = "completions.jsonl"
PROMPT_RESELECTION = "prompt_reselection.jsonl"  # grpo with prompt_selection.every: one line per re-run
# Manifest metrics that count work or data a stage lost, cut or skipped (a number, or a dict of numbers by
# cause): the summary and the report show each one that is not zero, so nothing is lost without a word.
LOSS_COUNTS = (
    "truncated_rows",
    "train/truncated_rows",
    "nonfinite_steps_skipped",
    "train/nonfinite_steps_skipped",
    "reward_failures",
    "reward_flags",
    "verifier_failures",
    "verifier_flags",
)
# Files of the run folder itself.
EVAL_FILE = "eval.json"
REPORT_FILE = "report.md"

ADAPTER_KINDS = ("sft", "dpo", "grpo")  # kinds whose folder is a LoRA adapter a policy can be evaluated from
KIND_FILES: dict[str, tuple[str, ...]] = {
    "sft": (LOG_HISTORY,),
    "pairs": (PAIRS_FILE, PAIR_STATS),
    "dpo": (LOG_HISTORY,),
    "reward": (),
    "grpo": (LOG_HISTORY, PROMPT_SELECTION, COMPLETIONS),
}
TRACKED_PACKAGES = ("align", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "vllm")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a manifest behind."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """The file whole or as it was before: a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        crash_point(f"write:{path.parent.name}/{path.name}")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_killed_writes(path: Path) -> None:
    """Temporary files a killed write_*_atomic of `path` left beside it (a stage folder is cleared whole; files
    in the run folder itself, like eval.json, would stay forever)."""
    for leftover in path.parent.glob(f".{path.name}.*"):
        leftover.unlink(missing_ok=True)


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


class Manifest(BaseModel):
    """What a finished stage folder says about itself. Keys added by a newer align are kept, not rejected."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    kind: str
    fingerprint: str = Field(description="Changes with the stage's config, input data or anything upstream.")
    config: dict[str, Any] = Field(default_factory=dict, description="The stage's resolved recipe entry.")
    base_model: str | None = Field(None, description="The recipe's model, as written.")
    base_model_location: str | None = Field(None, description="Where that model was loaded from.")
    lora: dict[str, Any] = Field(default_factory=dict)
    model_options: dict[str, Any] = Field(default_factory=dict, description="Attention kernel and rope scaling.")
    inputs: dict[str, str] = Field(default_factory=dict, description="Data digests and upstream stage folders.")
    upstream_fingerprints: dict[str, str | None] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    notes: dict[str, Any] = Field(default_factory=dict)
    wall_time_s: float | None = None
    resumed_from: str | None = None
    finished_at: str | None = None
    align_version: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    git_sha: str | None = None
    checksums: dict[str, str] | None = Field(
        None, description="sha256 of each artifact file (relative path → digest), checked before the stage is used."
    )
    disk_bytes: int | None = Field(
        None, description="Bytes the stage folder took when it finished, resume state included."
    )
    world_size: int = Field(1, description="Processes the stage ran on (accelerate launch / align run --nproc).")

    @property
    def init(self) -> str | None:
        init = self.config.get("init")
        return init if isinstance(init, str) else None

    @property
    def lora_rank(self) -> int:
        return int(self.lora.get("r", 16))


def read_json_artifact(path: Path) -> Any:
    """The JSON in `path`, or None when the file is not there. A file that is there but cannot be read is one
    error naming it: shown as "nothing yet", a corrupt eval.json or training log would hide that results are lost
    (every artifact is written atomically, so a torn file means something outside align damaged it)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise AlignError(f"{path}: unreadable ({type(err).__name__}: {err}); restore or delete it") from None


def read_manifest(stage_dir: Path) -> Manifest | None:
    """The folder's manifest, or None when it has none or it is unreadable (treated as not finished)."""
    try:
        return Manifest.model_validate_json((stage_dir / MANIFEST).read_text())
    except (OSError, ValueError, ValidationError):
        return None


def is_complete(stage_dir: Path, expected_fingerprint: str | None = None) -> bool:
    try:
        marker = (stage_dir / MARKER).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return False
    manifest = read_manifest(stage_dir)
    if manifest is None or marker != manifest.fingerprint:
        return False
    return expected_fingerprint is None or manifest.fingerprint == expected_fingerprint


def is_resumable(stage_dir: Path, expected_fingerprint: str) -> bool:
    """An interrupted run of the same configuration: its partial work (checkpoints, batches) can be reused."""
    try:
        running = json.loads((stage_dir / RUNNING).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return False
    return running.get("fingerprint") == expected_fingerprint


def last_checkpoint(stage_dir: Path, expected_fingerprint: str) -> Path | None:
    """The newest whole Trainer checkpoint of an interrupted run of the same configuration, if any."""
    if not is_resumable(stage_dir, expected_fingerprint):
        return None
    # The Trainer writes trainer_state.json last: a checkpoint without it was cut off mid-save.
    whole = [p for p in (stage_dir / CHECKPOINTS).glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    checkpoints = sorted(whole, key=lambda p: int(p.name.rsplit("-", 1)[-1]))
    return checkpoints[-1] if checkpoints else None


def mark_complete(stage_dir: Path, manifest: Manifest) -> None:
    write_json_atomic(stage_dir / MANIFEST, manifest.model_dump(mode="json"))
    # The marker names the manifest's fingerprint, and is renamed into place: a kill leaves none or a whole one.
    write_text_atomic(stage_dir / MARKER, manifest.fingerprint + "\n")
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


@dataclass(frozen=True)
class StageFolder:
    """One stage folder of a run, finished (with its manifest) or interrupted (manifest None)."""

    name: str
    path: Path
    manifest: Manifest | None
    complete: bool

    @property
    def kind(self) -> str:
        return self.manifest.kind if self.manifest else "?"

    @property
    def init(self) -> str | None:
        return self.manifest.init if self.manifest else None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.manifest.metrics if self.manifest else {}


def is_stage_dir(path: Path) -> bool:
    return (path / MANIFEST).is_file() or (path / RUNNING).is_file()


def is_run_dir(path: Path) -> bool:
    """A run folder is recognised by its contents (stage folders), not its name, so `--run-dir` anywhere works."""
    return path.is_dir() and not is_stage_dir(path) and any(is_stage_dir(p) for p in path.iterdir() if p.is_dir())


def stage_folders(run_dir: Path) -> list[StageFolder]:
    """Finished stages in the order they finished (which follows the recipe), then interrupted ones."""
    stages = []
    for path in sorted(p for p in run_dir.iterdir() if p.is_dir() and is_stage_dir(p)):
        stages.append(StageFolder(path.name, path, read_manifest(path), is_complete(path)))
    return sorted(stages, key=lambda s: (not s.complete, (s.manifest and s.manifest.finished_at) or _started(s.path)))


def policy_stages(run_dir: Path) -> list[StageFolder]:
    """The finished stages a policy can be evaluated from (their folder is a LoRA adapter), in finishing order."""
    return [s for s in stage_folders(run_dir) if s.complete and s.kind in ADAPTER_KINDS]


def _started(path: Path) -> str:
    try:
        return str(json.loads((path / RUNNING).read_text()).get("started_at", ""))
    except (FileNotFoundError, json.JSONDecodeError):
        return ""
