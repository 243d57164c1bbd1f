"""Stage kinds and the package that runs each; a stage's code is imported only when that stage runs.

Each kind lives in one place (`align/stages/<kind>` or `<kind>.py`) and never imports another kind: stages
talk only through artifact folders (`align.artifacts.contract`). Shared training plumbing is in `align.stages.training`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from align.runtime.context import StageContext
from align.stages.results import StageResult

# A stage's `run`: its typed result's `metrics()` is what the runner writes into the manifest.
StageRunner = Callable[[StageContext], StageResult]

# kind -> module with `run(ctx) -> StageResult`.
RUNNERS: dict[str, str] = {
    "sft": "align.stages.sft",
    "pairs": "align.stages.pairs",
    "dpo": "align.stages.dpo",
    "reward": "align.stages.reward_model",
    "grpo": "align.stages.grpo",
}


def runner_for(kind: str) -> StageRunner:
    runner: StageRunner = importlib.import_module(RUNNERS[kind]).run
    return runner
