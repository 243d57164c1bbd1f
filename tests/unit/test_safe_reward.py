"""A reward function that raises or returns garbage costs its scores, counted, never the GRPO run."""

from __future__ import annotations

import math
from collections import Counter

from align.stages.grpo.safe_reward import SafeReward


def reward(fn):
    fn.__name__ = "custom"
    return fn


def test_good_scores_pass_through_as_floats():
    failures: Counter[str] = Counter()
    safe = SafeReward(reward(lambda prompts, completions, **_: [1, 0.5]), failures)
    assert safe(["p", "p"], ["a", "b"]) == [1.0, 0.5]
    assert failures == Counter()


def test_raising_function_scores_none_and_is_counted():
    def boom(prompts, completions, **_):
        raise RuntimeError("verifier crashed")

    failures: Counter[str] = Counter()
    safe = SafeReward(reward(boom), failures)
    assert safe(["p"] * 3, ["a", "b", "c"]) == [None, None, None]
    assert failures == Counter({"custom/raised": 3})


def test_nan_inf_none_and_junk_become_none_each_counted():
    failures: Counter[str] = Counter()
    safe = SafeReward(reward(lambda p, c, **_: [math.nan, math.inf, None, "x", 2.0]), failures)
    assert safe(["p"] * 5, list("abcde")) == [None, None, None, None, 2.0]
    assert failures == Counter({"custom/nonfinite": 3, "custom/none": 1})


def test_wrong_number_of_scores_leaves_the_batch_unscored():
    failures: Counter[str] = Counter()
    safe = SafeReward(reward(lambda p, c, **_: [1.0]), failures)
    assert safe(["p", "p"], ["a", "b"]) == [None, None]
    assert failures == Counter({"custom/wrong_count": 2})


def test_columns_reach_the_wrapped_function():
    seen = {}

    def check(prompts, completions, answer, **_):
        seen["answer"] = answer
        return [1.0 for _ in completions]

    SafeReward(reward(check), Counter())(["p"], ["a"], answer=["7"])
    assert seen == {"answer": ["7"]}


def test_none_on_rows_the_reward_does_not_score_is_not_counted():
    """A verifier's None on an unverified prompt source is by design; a None on a verified row still counts."""
    failures: Counter[str] = Counter()
    safe = SafeReward(reward(lambda p, c, **_: [None, None, 1.0]), failures, ("prompt_source", frozenset({0})))
    assert safe(["p"] * 3, list("abc"), prompt_source=[0, 1, 1]) == [None, None, 1.0]
    assert failures == Counter({"custom/none": 1})


def test_a_list_in_the_exemption_column_is_not_exempt_and_does_not_break_the_call():
    """A reference reward's column may hold chat messages: a list is never a value to exempt, and no TypeError."""
    failures: Counter[str] = Counter()
    safe = SafeReward(reward(lambda p, c, **_: [None, None]), failures, ("reference", frozenset({None})))
    assert safe(["p"] * 2, ["a", "b"], reference=[[{"role": "assistant", "content": "x"}], None]) == [None, None]
    assert failures == Counter({"custom/none": 1})
