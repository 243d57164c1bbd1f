"""Instruction following on constraint types no training row uses: the held-out topics of
`data/instruct/eval.jsonl` asked with IFBench constraints only (`data/instruct/eval_ifbench.jsonl`, built by
data/instruct/build.py). A policy that learned to follow instructions gains here too; one that learned the
trained constraint types does not (IFBench's question).

Always this file: `--ifeval-data` picks what the `ifeval` suite reads and leaves this suite alone.
"""

from __future__ import annotations

from pathlib import Path

from align.config.load import shipped_dirs
from align.config.paths import resolve_data_path
from align.config.schema import DataSpec
from align.evaluation.settings import EvalSettings
from align.evaluation.suites.base import PreparedSuite, SuiteUnavailableError
from align.evaluation.suites.ifeval import prepare_rows

DATA = "data/instruct/eval_ifbench.jsonl"


def prepare(settings: EvalSettings) -> PreparedSuite:
    try:
        path = resolve_data_path(DATA, [Path.cwd(), *shipped_dirs()])
    except ValueError:
        raise SuiteUnavailableError(f"{DATA} not found (it ships with a checkout and a wheel install)") from None
    return prepare_rows("ifeval_unseen", DataSpec(path=path, limit=settings.limit), settings)
