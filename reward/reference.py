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

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reward.dimensions import Dimension, Text, completion_text, prompt_text, rows_from_columns
from reward.result import Verdict

if TYPE_CHECKING:
    from reward.model.likelihood import LikelihoodScorer

# Tokens scored per row: prompt, reference and completion together. A longer row loses the start of its prompt,
# never the completion (LikelihoodScorer._rows); a chat question, a reference and a 160-token answer fit easily.
MAX_LENGTH = 1024


class ReferenceDimension(Dimension):
    """One dimension scored by the rise in the LM's mean log-prob of the completion with the row's `column` shown."""

    def __init__(self, name: str, scorer: LikelihoodScorer, column: str) -> None:
        super().__init__(name)
        self.scorer = scorer
        self.column = column

    def score(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[Verdict]:
        rows = rows_from_columns(len(completions), columns)
        judged = [(i, row[self.column]) for i, row in enumerate(rows) if row.get(self.column) is not None]
        verdicts = [Verdict(None, f"no {self.column!r} reference in this row")] * len(completions)
        if not judged:
            return verdicts
        rises = self.scorer.reference_guided(
            [prompt_text(prompts[i]) for i, _ in judged],
            [completion_text(completions[i]) for i, _ in judged],
            [completion_text(reference) for _, reference in judged],  # a reference may be chat messages, too
        )
        for (i, _), rise in zip(judged, rises.tolist(), strict=True):
            verdicts[i] = Verdict(rise, f"mean log-prob {rise:+.3f} per token with the {self.column!r} reference shown")
        return verdicts


def build_reference(named: Sequence[tuple[str, Any]], inputs: Any) -> dict[str, Dimension]:
    """The `SOURCES["reference"]` builder: one loaded LM per distinct `model`, one dimension per spec."""
    from reward.model.likelihood import LikelihoodScorer  # torch: loaded only when a recipe uses this source

    scorers: dict[str, LikelihoodScorer] = {}
    built: dict[str, Dimension] = {}
    for name, spec in named:
        location = inputs.lm_location(spec.model, "reference scorer")
        if location not in scorers:
            scorers[location] = LikelihoodScorer.load(location, MAX_LENGTH, device=inputs.device)
        built[name] = ReferenceDimension(name, scorers[location], spec.column)
    return built
