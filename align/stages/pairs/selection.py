"""Pick chosen/rejected pairs from one prompt's verified samples.

Passing answers (score ≥ threshold) are candidates for `chosen`, failing ones for `rejected`. Undecided samples
(score None) are never used on either side: a verifier that could not judge says nothing about quality.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from reward import Verdict


@dataclass(frozen=True)
class Sample:
    text: str
    verdict: Verdict


@dataclass(frozen=True)
class Pair:
    chosen: Sample
    rejected: Sample


@dataclass(frozen=True)
class SelectionRules:
    max_pairs: int = 1
    prefer_shortest: bool = True
    drop_identical: bool = True
    pass_threshold: float = 1.0


def select_pairs(samples: list[Sample], rules: SelectionRules) -> tuple[list[Pair], str | None]:
    """Pairs for one prompt, and why there are none when there are none."""
    decided = [s for s in samples if s.verdict.score is not None]
    if not decided:
        return [], "undecided"
    if rules.drop_identical:
        unique = {s.text.strip(): s for s in decided}
        decided = list(unique.values())
    passing = [s for s in decided if (s.verdict.score or 0.0) >= rules.pass_threshold]
    failing = [s for s in decided if (s.verdict.score or 0.0) < rules.pass_threshold]
    if not passing:
        return [], "all_failed"
    if not failing:
        return [], "all_passed"
    # Best first; ties broken by length so the shortest correct answer wins when asked (the report's preference
    # against padding), and the longest wrong one is rejected first.
    sign = 1 if rules.prefer_shortest else -1
    passing.sort(key=lambda s: (-(s.verdict.score or 0.0), sign * len(s.text)))
    failing.sort(key=lambda s: (s.verdict.score or 0.0, -len(s.text)))
    # Every distinct sample on the larger side gets used before any repeats; the smaller side cycles, best first.
    # A small model often writes the same right answer eight times but fails in eight different ways: pairing
    # each distinct failure with a right answer keeps that signal instead of stopping at the one distinct
    # right answer. Pair i = (passing[i % P], failing[i % F]) with i < max(P, F): all pairs are distinct.
    count = min(rules.max_pairs, max(len(passing), len(failing)))
    return [Pair(passing[i % len(passing)], failing[i % len(failing)]) for i in range(count)], None


def skip_counts(reasons: list[str | None]) -> dict[str, int]:
    return dict(Counter(r for r in reasons if r is not None))
