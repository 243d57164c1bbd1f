"""Pairs from prompts the policy already solves (`solved_prompts` in a pairs stage).

A prompt whose k samples all pass gives no pair, so DPO never sees the problems the policy is good at: on the
shipped math prompts it learned the subtractions it failed and unlearned one-digit sums (93 -> 83 of 100), which
SFT solved on every sample and the pairs therefore left out. Capping the other groups' pairs cannot help; it only
drops pairs. Here such a prompt is sampled again, more times and hotter: a wrong answer that appears is the
policy's own likely mistake on that very prompt, and is rejected against one of its right answers from the first
k samples (the answer it gives at the stage's temperature). A wrong answer taken from another prompt would say
nothing about this one. A prompt that stays right even hot gives no pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from align.config.schema import SolvedPrompts
from align.stages.pairs.selection import Pair, Sample, SelectionRules, select_pairs
from align.stages.pairs.verify import verify

SOLVED = "all_passed"  # select_pairs' reason for a prompt whose samples all passed


# (prompt rows, samples per prompt, temperature) -> each prompt's answers: the batch's own seeded sampler.
Draw = Callable[[list[dict[str, Any]], int, float], list[list[str]]]


def resample_solved(
    spec: SolvedPrompts,
    verifier: str,
    draw: Draw,
    rows: list[dict[str, Any]],
    samples: list[list[Sample]],
    reasons: list[str | None],
    rules: SelectionRules,
) -> dict[int, tuple[list[float | None], list[Pair]]]:
    """For each solved prompt of a batch (by its offset): the scores of its hot samples and the pairs they give.

    `samples`/`reasons` are the prompts' first k samples and select_pairs' verdicts on them."""
    solved = [i for i, reason in enumerate(reasons) if reason == SOLVED]
    if not solved:
        return {}
    chosen_rows = [rows[i] for i in solved]
    hot = draw(chosen_rows, spec.extra_samples, spec.temperature)
    verdicts = verify(verifier, chosen_rows, hot)
    result = {}
    for i, texts, judged in zip(solved, hot, verdicts, strict=True):
        wrong = [
            Sample(text, verdict)
            for text, verdict in zip(texts, judged, strict=True)
            if verdict.score is not None and verdict.score < rules.pass_threshold
        ]
        # Only the hot *wrong* answers join: the chosen side stays the policy's right answers at its own temperature.
        pairs = select_pairs(samples[i] + wrong, rules)[0] if wrong else []
        result[i] = ([v.score for v in judged], pairs)
    return result
