"""Checks of a recipe's data against what its stages need, run by `align validate` and `align run` before any
model loads: a prompts file without the column its verifier or reference reward reads fails in one line, not an
hour into a chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from align.config.schema import DataSpec, GRPOStage, Recipe
from align.data.load import load_located_rows
from align.data.prompt_sources import (
    PromptSource,
    require_reference_columns,
    require_verified_source,
    source_verified,
)
from align.runtime.errors import AlignError
from reward import Verifier, get_verifier


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


def check_prompt_columns(recipe: Recipe) -> None:
    """The columns a recipe's stages read from their local prompts files: the verifiers' and the references'."""
    check_verifier_columns(recipe)
    check_reference_columns(recipe)


def check_reference_columns(recipe: Recipe) -> None:
    """A GRPO stage's 'reference' rewards each find their column on one row of its prompts at least, checked when
    every source is a local file (otherwise when the stage loads them)."""
    for stage in recipe.stages:
        if isinstance(stage, GRPOStage) and all(Path(s.path).is_file() for s in stage.prompt_sources):
            require_reference_columns(stage, (row for s in stage.prompt_sources for _, row in load_located_rows(s)))


def check_verifier_columns(recipe: Recipe) -> None:
    """Every local prompts file of a stage with a verifier has, on every row, the columns that verifier
    declares (math: `answer`, code: `tests`), and rows the verifier can judge (ifeval: constraint types it can
    check offline). Hub datasets are checked when the stage loads them. A GRPO stage's list of sources is checked
    source by source (`_check_sources`)."""
    for stage in recipe.stages:
        prompts: DataSpec | list[DataSpec] | None = getattr(stage, "prompts", None)
        verifier_name: str | None = getattr(stage, "verifier", None)
        if prompts is None or verifier_name is None:
            continue
        verifier = get_verifier(verifier_name)
        if isinstance(stage, GRPOStage) and isinstance(prompts, list):
            _check_sources(stage, verifier)
            continue
        assert isinstance(prompts, DataSpec)
        if not Path(prompts.path).is_file():
            continue
        for where, row in load_located_rows(prompts):
            missing = [c for c in verifier.columns if row.get(c) is None]
            if missing:
                raise AlignError(
                    f"{where}: no '{missing[0]}' column, which the {verifier.name} verifier of "
                    f"stages.{stage.name} needs"
                )
            _check_row(where, row, verifier, stage.name)


def _check_sources(stage: GRPOStage, verifier: Verifier) -> None:
    """Each local source verified on every row or on none, each verified row one the verifier can judge, and one
    source verified at least: decided only when every source is a local file (hub sources are checked when the
    stage loads them)."""
    sources = []
    for index, spec in enumerate(stage.prompt_sources):
        if not Path(spec.path).is_file():
            continue
        located = load_located_rows(spec)
        verified = source_verified(located, verifier)
        for where, row in located if verified else []:
            _check_row(where, row, verifier, stage.name)
        sources.append(PromptSource(index, spec.path, len(located), verified))
    if len(sources) == len(stage.prompt_sources):
        require_verified_source(f"stages.{stage.name}.prompts", sources, verifier)


def _check_row(where: str, row: dict[str, Any], verifier: Verifier, stage: str) -> None:
    problem = verifier.row_problem(row)
    if problem is not None:
        raise AlignError(f"{where}: {problem}, for the {verifier.name} verifier of stages.{stage}")
