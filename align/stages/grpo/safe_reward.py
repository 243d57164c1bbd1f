"""A reward function that misbehaves costs its scores for one batch, never the run.

GRPO may run for hours; a reward function (a verifier, a model head, a user's own) that raises, returns None,
NaN or inf, or a list of the wrong length must not end it. Those scores become None — TRL leaves a None out of
the group's advantage instead of treating it as zero — and every case is counted for the manifest. The calls
and failures since the last look are kept too (`take_window`), so that a source that keeps failing can stop the
run (align.stages.grpo.reward_health) rather than leave it training on the other rewards only.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

log = logging.getLogger(__name__)


class SafeReward:
    def __init__(self, function: Any, failures: Counter[str], unscored: tuple[str, frozenset[Any]] | None = None):
        self.function = function
        self.failures = failures
        # (column, values): rows whose column holds one of the values are not this reward's to score (a verifier's
        # None on an unverified prompt source, a reference reward's on a row whose reference column is None), so
        # their None is expected and not counted as a missing score.
        self.unscored = unscored
        self.__name__ = function.__name__
        self.scored = self.failed = 0  # completions since the last take_window()
        self.last_error: str | None = None

    def take_window(self) -> tuple[int, int, str | None]:
        """(completions scored, completions failed, last failure) since the previous call; starts a new window."""
        window = (self.scored, self.failed, self.last_error)
        self.scored = self.failed = 0
        return window

    def _count(self, kind: str, n: int, detail: str) -> None:
        key = f"{self.__name__}/{kind}"
        if kind != "none":  # an explicit None is a verdict of "no score", not a failure of the source
            self.failed += n
            self.last_error = detail
        if not self.failures[key]:
            log.warning(
                "reward %s: %s (counted as reward_failures[%s]; such scores are left out)", self.__name__, detail, key
            )
        self.failures[key] += n

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        self.scored += len(completions)
        try:
            scores = list(self.function(prompts, completions, **columns))
        except Exception as err:  # any bug in any reward function: the batch goes unscored, the run goes on
            self._count("raised", len(completions), f"raised {type(err).__name__}: {err}")
            return [None] * len(completions)
        if len(scores) != len(completions):
            self._count("wrong_count", len(completions), f"returned {len(scores)} scores for {len(completions)}")
            return [None] * len(completions)
        out: list[float | None] = []
        column, values = self.unscored or ("", frozenset())
        # A list (chat messages, tests) is never one of the values, and cannot be looked up in a set.
        exempt = [
            isinstance(value, Hashable) and value in values for value in columns.get(column) or [None] * len(scores)
        ]
        for score, expected in zip(scores, exempt, strict=True):
            if score is None:
                if not expected:
                    self._count("none", 1, "gave no score (None) for a completion")
                out.append(None)
                continue
            try:
                value = float(score)
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value):
                self._count("nonfinite", 1, f"returned {score!r}")
                out.append(None)
            else:
                out.append(value)
        return out
