"""The "reference" reward source: reference-guided likelihood from the recipe's base model (a tiny random Llama
here), None where a row ships no reference."""

from __future__ import annotations

import pytest
import torch

from align.config.schema import RewardSpec
from reward import SourceInputs, build_rewards
from reward.model.likelihood import LikelihoodScorer
from reward.reference import MAX_LENGTH

PROMPTS = ["Is the Sun a planet?", "Name a colour.", "Is water wet?"]
COMPLETIONS = ["No, the Sun is a star.", "Blue.", "Yes, water is wet."]
REFERENCES = ["No. The Sun is a star, not a planet.", None, "Yes."]


def reference(**fields) -> RewardSpec:
    return RewardSpec(source="reference", **fields)


def test_scores_are_the_scorers_reference_guided_rise_and_none_without_a_reference(tiny_model: str):
    [built] = build_rewards({"truthfulness": reference(column="chosen")}, SourceInputs(policy_model=tiny_model))
    truthfulness = built.function
    verdicts = truthfulness.score(PROMPTS, COMPLETIONS, chosen=REFERENCES, reference=["unread"] * 3)
    assert verdicts[1].score is None and "no 'chosen' reference" in verdicts[1].reason
    scorer = LikelihoodScorer.load(tiny_model, MAX_LENGTH)
    expected = scorer.reference_guided(
        [PROMPTS[0], PROMPTS[2]], [COMPLETIONS[0], COMPLETIONS[2]], [REFERENCES[0], "Yes."]
    )
    scored = torch.tensor([verdicts[0].score, verdicts[2].score])
    assert torch.allclose(scored, expected, atol=1e-5)
    assert not torch.allclose(scored, torch.zeros(2), atol=1e-4)  # the reference really changed the log-prob
    assert "with the 'chosen' reference shown" in verdicts[0].reason
    # As TRL calls it: chat messages in, plain scores out, the same numbers.
    as_chat = truthfulness(
        [[{"role": "user", "content": p}] for p in PROMPTS],
        [[{"role": "assistant", "content": c}] for c in COMPLETIONS],
        chosen=REFERENCES,
        trainer_state=None,
    )
    assert as_chat[1] is None and as_chat[0] == pytest.approx(verdicts[0].score, abs=1e-5)


def test_a_batch_without_the_column_scores_none_and_loads_one_lm_per_model(tiny_model: str):
    specs = {"truthfulness": reference(), "helpfulness": reference(model=tiny_model, column="answer")}
    truthfulness, helpfulness = [r.function for r in build_rewards(specs, SourceInputs(policy_model=tiny_model))]
    # 'policy' and the same folder are one loaded LM (the scorer bound into each dimension's batch checker)
    assert truthfulness.verify_batch.args[0] is helpfulness.verify_batch.args[0]
    assert truthfulness(PROMPTS, COMPLETIONS, answer=REFERENCES) == [None, None, None]  # no `reference` column


def test_the_policy_lm_needs_the_recipes_model():
    with pytest.raises(ValueError, match="'policy' reference scorer needs the recipe's model"):
        build_rewards({"truthfulness": reference()}, SourceInputs())
