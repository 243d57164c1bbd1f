"""Evaluation suites by name; each module's `prepare(settings)` returns prompts plus a scorer
(`base.PreparedSuite`), or raises `SuiteUnavailableError` when its inputs are not available."""

from __future__ import annotations

import importlib

from align.evaluation.settings import SUITE_NAMES, EvalSettings
from align.evaluation.suites.base import PreparedSuite, SuiteUnavailableError


def prepare(name: str, settings: EvalSettings) -> PreparedSuite:
    if name not in SUITE_NAMES:
        raise ValueError(f"unknown suite {name!r}")
    # Imported on use: the code suite pulls in the sandbox, the chat suite the reward model.
    return importlib.import_module(f"{__name__}.{name}").prepare(settings)


__all__ = ["PreparedSuite", "SuiteUnavailableError", "prepare"]
