"""Math, out of template: the held-out problem keys of `data/math/eval.jsonl` asked in phrasings, names and
instructions that no training file uses (`data/math/eval_ood.jsonl`, built by data/math/build.py). A policy
that learned the arithmetic gains here too; one that learned the training wording does not.

Always this file: `--math-data` picks what the `math` suite reads and leaves this suite alone.
"""

from __future__ import annotations

from pathlib import Path

from align.config.load import shipped_dirs
from align.config.paths import resolve_data_path
from align.config.schema import DataSpec
from align.evaluation.settings import EvalSettings
from align.evaluation.suites.base import PreparedSuite, SuiteUnavailableError
from align.evaluation.suites.math import prepare_rows

DATA = "data/math/eval_ood.jsonl"


def prepare(settings: EvalSettings) -> PreparedSuite:
    try:
        path = resolve_data_path(DATA, [Path.cwd(), *shipped_dirs()])
    except ValueError:
        raise SuiteUnavailableError(f"{DATA} not found (it ships with a checkout and a wheel install)") from None
    return prepare_rows("math_ood", DataSpec(path=path, limit=settings.limit), settings)
