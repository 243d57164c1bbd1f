"""Stage kinds and the module that runs each; modules are imported only when their stage runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from align import __version__
from align.context import StageContext
from align.errors import StageNotImplementedError

StageRunner = Callable[[StageContext], dict[str, Any]]

# kind -> module with `run(ctx) -> metrics`; None = accepted by the schema, not runnable yet.
RUNNERS: dict[str, str | None] = {
    "sft": "align.stages.sft",
    "pairs": "align.stages.pairs",
    "dpo": "align.stages.dpo",
    "reward": "align.stages.reward",
    "grpo": "align.stages.grpo",
}


def check_runnable(kind: str, name: str) -> None:
    if RUNNERS.get(kind) is None:
        raise StageNotImplementedError(
            f"stages.{name}: stage kind '{kind}' is not implemented yet (align {__version__})"
        )


def runner_for(kind: str, name: str) -> StageRunner:
    check_runnable(kind, name)
    return importlib.import_module(RUNNERS[kind]).run  # type: ignore[arg-type]
