"""What a person sees at the end of a run, and the `align stages` reference."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from align.artifacts.contract import ADAPTER_KINDS, LOSS_COUNTS
from align.config.reference import plain_type
from align.config.schema import STAGE_TYPES, Recipe
from align.runner import StageOutcome
from align.runtime.console import console
from align.runtime.errors import AlignError

# Shown only when something happened: rows cut, skipped steps, reward functions that failed.
PROBLEM_COUNTS = LOSS_COUNTS
HEADLINE_METRICS = (
    "loss_first",
    "loss_last",
    "eval_loss",
    "pairs",
    "pass_rate",
    "accuracy/mean",
    "probe_accuracy/mean",
    "correctness_first_half",
    "correctness_second_half",
    *PROBLEM_COUNTS,
)


def print_summary(recipe: Recipe, run_dir: Path, outcomes: list[StageOutcome]) -> None:
    table = Table(title=f"align run '{recipe.name}' — {run_dir}", title_justify="left")
    for column in ("stage", "kind", "status", "time", "metrics", "artifact"):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        metrics = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in outcome.metrics.items()
            if k in HEADLINE_METRICS and (v or k not in PROBLEM_COUNTS)
        )
        time = f"{outcome.wall_time_s:.0f}s" if outcome.wall_time_s else "—"
        table.add_row(outcome.name, outcome.kind, outcome.status, time, metrics, str(outcome.path))
    console.print(table)
    console.print(f"log: {run_dir / 'align.log'}   tensorboard: tensorboard --logdir {run_dir / 'tb'}")


def print_preview(recipe: Recipe, outcomes: list[StageOutcome]) -> None:
    from align.models.load import resolve_model
    from align.report.preview import before_after

    final = next((o for o in reversed(outcomes) if o.kind in ADAPTER_KINDS and o.status != "not selected"), None)
    if final is None:
        return
    rows = before_after(resolve_model(recipe.model), final.path, recipe.preview)
    table = Table(title=f"preview: base model vs '{final.name}' adapter ({final.path})", title_justify="left")
    table.add_column("prompt", overflow="fold")
    table.add_column("before", overflow="fold")
    table.add_column(f"after ({final.name})", overflow="fold")
    for prompt, before, after in rows:
        table.add_row(prompt, before, after)
    console.print(table)


def print_stage_kinds(kind: str | None) -> int:
    kinds = [kind] if kind else list(STAGE_TYPES)
    for name in kinds:
        if name not in STAGE_TYPES:
            raise AlignError(f"unknown stage kind '{name}' (one of: {', '.join(STAGE_TYPES)})")
        model = STAGE_TYPES[name]
        table = Table(title=f"kind: {name}", title_justify="left")
        for column in ("field", "type", "default", "description"):
            table.add_column(column, overflow="fold")
        for field_name, info in model.model_fields.items():
            if field_name == "kind":
                continue
            default = "required" if info.is_required() else repr(info.default)
            table.add_row(field_name, plain_type(info.annotation), default, info.description or "")
        console.print(table)
    return 0
