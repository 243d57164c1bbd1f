"""Build `<run>/report.md` and its PNG plots from what a run folder holds: manifests, training logs, pair
statistics and `eval.json`. Every link is relative, so the folder reads the same on GitHub as on disk."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from align.artifacts.contract import (
    EVAL_FILE,
    REPORT_FILE,
    is_run_dir,
    read_json_artifact,
    stage_folders,
    write_text_atomic,
)
from align.report.chat_section import chat_changes_section
from align.report.group_section import groups_section
from align.report.reward_section import reward_section
from align.report.sections import (
    PLOTS,
    curves_section,
    eval_section,
    losses_section,
    pairs_section,
    samples_section,
    stages_section,
)
from align.runtime.errors import AlignError


def build_report(run_dir: Path) -> Path:
    run_dir = Path(run_dir).resolve()
    if not is_run_dir(run_dir):
        raise AlignError(f"{run_dir}: not a run folder (no stage folders with a manifest.json inside)")
    stages = stage_folders(run_dir)
    results = _in_stage_order(_read_eval(run_dir / EVAL_FILE), stages)
    # Plots of stages that no longer exist would linger otherwise; the folder is the report's alone.
    for old in (run_dir / PLOTS).glob("*.png"):
        old.unlink()
    base = next((s.manifest.base_model for s in stages if s.manifest and s.manifest.base_model), "?")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sections = [
        f"# Run report: {run_dir.name}\n\n`{run_dir}` · base model `{base}` · built {created} by `align report`",
        stages_section(stages),
        losses_section(stages),
        eval_section(results, run_dir),
        groups_section(results),
        reward_section(stages),
        curves_section(stages, run_dir),
        pairs_section(stages),
        samples_section(results, stages),
        chat_changes_section(results, stages),
    ]
    path = run_dir / REPORT_FILE
    write_text_atomic(path, "\n\n".join(s for s in sections if s) + "\n")
    return path


def _read_eval(path: Path) -> dict | None:
    data = read_json_artifact(path)
    if data is None:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("models"), dict)):
        raise AlignError(f"{path}: not an evaluation (no `models` object); delete it and run `align eval` again")
    return data


def _in_stage_order(results: dict | None, stages: list) -> dict | None:
    """eval.json keeps models in key order; tables and plots read left to right as the chain ran."""
    if results is None:
        return None
    order = ["base", *(stage.name for stage in stages)]
    models = results["models"]
    ranked = sorted(models, key=lambda name: order.index(name) if name in order else len(order))
    return {**results, "models": {name: models[name] for name in ranked}}
