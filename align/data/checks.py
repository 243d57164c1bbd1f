"""Checks of a recipe's data against what its stages need, run by `align validate` and `align run` before any
model loads: a prompts file without the column its verifier reads fails in one line, not an hour into a chain."""

from __future__ import annotations

from pathlib import Path

from align.config.schema import DataSpec, GRPOStage, Recipe
from align.data.load import load_rows
from align.runtime.errors import AlignError
from reward import get_verifier


def check_process_count(recipe: Recipe, processes: int) -> None:
    """Options that work in one process only, refused before any rank starts.

    DAPO dynamic sampling re-generates flat groups until they vary; each generation gathers rewards across ranks,
    and ranks whose groups are flat a different number of times would wait on each other forever."""
    if processes <= 1:
        return
    for stage in recipe.stages:
        if isinstance(stage, GRPOStage) and stage.dynamic_sampling.enabled:
            raise AlignError(
                f"stages.{stage.name}.dynamic_sampling: runs in one process only, not {processes} (ranks would "
                "resample different numbers of times and wait on each other); set enabled: false or drop --nproc"
            )


def check_verifier_columns(recipe: Recipe) -> None:
    """Every local prompts file of a stage with a verifier has, on every row, the columns that verifier
    declares (math: `answer`, code: `tests`), and rows the verifier can judge (ifeval: constraint types it can
    check offline). Hub datasets are checked when the stage loads them."""
    for stage in recipe.stages:
        spec: DataSpec | None = getattr(stage, "prompts", None)
        verifier_name: str | None = getattr(stage, "verifier", None)
        if spec is None or verifier_name is None or not Path(spec.path).is_file():
            continue
        verifier = get_verifier(verifier_name)
        for number, row in enumerate(load_rows(spec), start=1):
            missing = [c for c in verifier.columns if row.get(c) is None]
            if missing:
                raise AlignError(
                    f"{spec.path}: row {number}: no '{missing[0]}' column, which the {verifier.name} verifier of "
                    f"stages.{stage.name} needs"
                )
            problem = verifier.row_problem(row)
            if problem is not None:
                raise AlignError(
                    f"{spec.path}: row {number}: {problem}, for the {verifier.name} verifier of stages.{stage.name}"
                )
