"""The "reference" reward source: reference-guided likelihood, for prompt rows that ship a reference answer.

    rewards:
      truthfulness: {source: reference, column: chosen}   # the recipe's base model reads each row's `chosen`
    # or another causal LM reads the default `reference` column:
      truthfulness: {source: reference, model: Qwen/Qwen2.5-7B-Instruct}

The score is `LikelihoodScorer.reference_guided` (reward/model/likelihood.py): how much the completion's mean token
log-prob rises when the row's reference answer is shown after the question, as MT-Bench grades with a reference. An
answer that agrees with the reference gets easier to predict after reading it, a flipped one harder, so the LM only
needs to read, not to know facts. The default LM is the recipe's base model with its weights untouched, never the
policy being trained: a scorer that trained along with the policy would be a reward the policy moves itself. A row
whose reference column is missing or null scores None, which the total skips. Scores are differences of mean
log-probs (nats per token), not [0, 1]: the recipe's weight and `normalize_then_sum` put them beside the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from reward.dimensions import Dimension, VerifierDimension, completion_text
from reward.result import Verdict

if TYPE_CHECKING:
    from reward.model.likelihood import LikelihoodScorer

# Tokens scored per row: prompt, reference and completion together. A longer row loses the start of its prompt,
# never the completion (LikelihoodScorer._rows); a chat question, a reference and a 160-token answer fit easily.
MAX_LENGTH = 1024
BATCH = 16  # rows per forward; align's memory estimate sizes the logits by it


def reference_rises(
    scorer: LikelihoodScorer, column: str, texts: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> list[Verdict]:
    """The rise in the LM's mean log-prob of each completion with its row's `column` shown: a batch checker for a
    VerifierDimension with `column` as its reference, so a row without one gets None as a verifier's does."""
    scores = scorer.reference_guided(
        [row["prompt"] for row in rows],
        list(texts),
        [completion_text(row[column]) for row in rows],  # a reference may be chat messages, too
        batch_size=BATCH,
    )
    return [
        Verdict(rise, f"mean log-prob {rise:+.3f} per token with the {column!r} reference shown")
        for rise in scores.tolist()
    ]


def build_reference(named: Sequence[tuple[str, Any]], inputs: Any) -> dict[str, Dimension]:
    """The `SOURCES["reference"]` builder: one loaded LM per distinct `model`, one dimension per spec."""
    from reward.model.likelihood import LikelihoodScorer  # torch: loaded only when a recipe uses this source

    scorers: dict[str, LikelihoodScorer] = {}
    built: dict[str, Dimension] = {}
    for name, spec in named:
        location = inputs.lm_location(spec.model, "reference scorer")
        if location not in scorers:
            scorers[location] = LikelihoodScorer.load(location, MAX_LENGTH, device=inputs.device)
        built[name] = VerifierDimension(name, partial(reference_rises, scorers[location], spec.column), (spec.column,))
    return built
