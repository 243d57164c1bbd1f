"""Aggregator maths and the rule/verifier dimensions as TRL reward functions."""

from __future__ import annotations

import math

import pytest

from reward.aggregate import Aggregator
from reward.dimensions import DIMENSIONS, LengthBudget, RuleDimension, VerifierDimension
from reward.result import Verdict


def test_weighted_sum_when_every_dimension_scored() -> None:
    result = Aggregator({"a": 1.0, "b": 3.0})({"a": [1.0, 0.0, 2.0], "b": [0.0, 1.0, -1.0]})
    assert result.totals == [1.0, 3.0, -1.0]
    assert result.unscored == 0


def test_missing_score_rescales_present_weights_to_the_full_total() -> None:
    # Row 0: only b (weight 3 of 4) present: 3 * 2 * 4/3 = 8. Row 1: only a: 1 * 5 * 4/1 = 20.
    result = Aggregator({"a": 1.0, "b": 3.0})({"a": [None, 5.0], "b": [2.0, float("nan")]})
    assert result.totals == pytest.approx([8.0, 20.0])
    assert result.unscored == 0


def test_row_with_every_dimension_missing_is_unscored_and_counted() -> None:
    result = Aggregator({"a": 1.0, "b": 1.0})({"a": [None, 1.0, None], "b": [None, 1.0, None]})
    assert result.totals == [None, 2.0, None]
    assert result.unscored == 2


def test_zero_weight_dimension_does_not_rescue_an_unscored_row() -> None:
    result = Aggregator({"a": 1.0, "b": 0.0})({"a": [None], "b": [4.0]})
    assert result.totals == [None]
    assert result.unscored == 1


def test_group_normalisation_zscores_each_dimension_within_its_group() -> None:
    scores = {
        # group 1: mean 2, population std sqrt(2/3) -> z = -1.2247, 0, +1.2247
        # group 2: all equal -> no signal, z = 0
        "a": [1.0, 2.0, 3.0, 7.0, 7.0, 7.0],
        # group 1: mean 20, std 10 over the two present -> z = -1, None, +1
        # group 2: 0, 6, 3 -> mean 3, std sqrt(6) -> z = -1.2247, +1.2247, 0
        "b": [10.0, None, 30.0, 0.0, 6.0, 3.0],
    }
    result = Aggregator({"a": 1.0, "b": 2.0}, normalize="group", group_size=3)(scores)
    z = math.sqrt(1.5)  # 1 / sqrt(2/3)
    expected = [
        -z + 2 * -1.0,
        0.0 * 3 / 1,  # b missing: a's weight 1 scaled to the full 3
        z + 2 * 1.0,
        0.0 + 2 * -z,
        0.0 + 2 * z,
        0.0,
    ]
    assert result.totals == pytest.approx(expected)


def test_group_normalisation_needs_whole_groups() -> None:
    with pytest.raises(ValueError, match="whole groups"):
        Aggregator({"a": 1.0}, normalize="group", group_size=4)({"a": [1.0] * 6})


def test_stats_describe_raw_scores_per_dimension() -> None:
    result = Aggregator({"a": 1.0})({"a": [1.0, None, 3.0], "b": [None, None, None]})
    a, b = result.stats["a"], result.stats["b"]
    assert (a.scored, a.missing, a.mean, a.std, a.min, a.max) == (2, 1, 2.0, 1.0, 1.0, 3.0)
    assert (b.scored, b.missing, b.mean) == (0, 3, None)


@pytest.mark.parametrize(
    ("weights", "kwargs"),
    [
        ({"a": -1.0, "b": 2.0}, {}),
        ({"a": 0.0}, {}),
        ({}, {}),
        ({"a": 1.0}, {"normalize": "group"}),
        ({"a": 1.0}, {"group_size": 4}),
        ({"a": 1.0}, {"normalize": "zscore"}),
    ],
)
def test_invalid_configuration_is_rejected(weights: dict[str, float], kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Aggregator(weights, **kwargs)


def test_missing_weighted_dimension_and_ragged_scores_are_errors() -> None:
    with pytest.raises(KeyError, match="b"):
        Aggregator({"a": 1.0, "b": 1.0})({"a": [1.0]})
    with pytest.raises(ValueError, match="different numbers"):
        Aggregator({"a": 1.0})({"a": [1.0], "b": [1.0, 2.0]})


# --- dimensions as TRL reward functions ----------------------------------------------------------------


def test_length_budget_decays_linearly_in_words() -> None:
    rule = LengthBudget(budget=10, decay_to=3.0)
    assert rule("", "w " * 10).score == 1.0
    assert rule("", "w " * 20).score == pytest.approx(0.5)
    assert rule("", "w " * 30).score == 0.0
    assert rule("", "w " * 99).score == 0.0


def test_rule_dimension_is_a_trl_reward_function_for_chat_completions() -> None:
    conciseness = RuleDimension("conciseness", LengthBudget(budget=2, decay_to=2.0))
    completions = [[{"role": "assistant", "content": "two words"}], "one two three"]
    prompts = [[{"role": "user", "content": "q"}], "q"]
    # TRL also passes completion_ids, trainer_state and every dataset column as keyword arguments.
    scores = conciseness(
        prompts=prompts,
        completions=completions,
        completion_ids=[[1], [2]],
        trainer_state=object(),
        topic=["x", "y"],
    )
    assert conciseness.__name__ == "conciseness"
    assert scores == [1.0, pytest.approx(0.5)]
    assert "within budget" in conciseness.score(prompts, completions)[0].reason


def test_verifier_dimension_scores_none_where_the_row_has_no_reference() -> None:
    seen = []

    def exact(completion: str, row: dict) -> Verdict:
        seen.append(row)
        return Verdict(float(completion.strip() == row["answer"]), "exact match")

    truthfulness = VerifierDimension("truthfulness", exact, reference="answer")
    scores = truthfulness(["1+1?", "2+2?", "hi"], ["2", "5", "hello"], answer=["2", "4", None], log_metric=print)
    assert scores == [1.0, 0.0, None]
    assert [row["prompt"] for row in seen] == ["1+1?", "2+2?"]  # the checker never ran on the None row


def test_aggregate_reward_combines_dimensions_and_logs_unscored_rows() -> None:
    def needs_answer(completion: str, row: dict) -> Verdict:
        return Verdict(1.0, "ok")

    dims = [
        VerifierDimension("truthfulness", needs_answer, reference="answer"),
        RuleDimension("conciseness", LengthBudget(budget=2, decay_to=3.0)),
    ]
    reward = Aggregator({"truthfulness": 1.0, "conciseness": 1.0}).reward_function(dims)
    logged: dict[str, float] = {}
    totals = reward(["p", "p"], ["a", "a b c"], answer=["x", None], log_metric=logged.__setitem__)
    assert reward.__name__ == "reward"
    # Row 1 has no reference: conciseness alone (3 words: 1 - 1/4) carries the full weight of 2.
    assert totals == pytest.approx([2.0, 1.5])
    assert logged == {"reward/unscored": 0.0}
    assert reward.last is not None and reward.last.stats["truthfulness"].missing == 1


def test_aggregate_reward_rejects_weights_for_dimensions_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="helpfulness"):
        Aggregator({"helpfulness": 1.0}).reward_function([RuleDimension("conciseness", LengthBudget(5))])


def test_dimension_names_are_the_six_from_the_report() -> None:
    assert DIMENSIONS == ("truthfulness", "helpfulness", "conciseness", "relevance", "harmlessness", "debiasing")
