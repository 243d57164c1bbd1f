"""The one aggregation rule (checked against TRL's own computation) and the rule/verifier dimensions as TRL
reward functions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from align.stages.trl_private import generate_and_score, logged, logged_advantages
from reward import aggregate, check_weights
from reward.dimensions import DIMENSIONS, LengthBudget, RuleDimension, VerifierDimension
from reward.result import Verdict


def test_weighted_sum_when_every_dimension_scored() -> None:
    result = aggregate({"a": [1.0, 0.0, 2.0], "b": [0.0, 1.0, -1.0]}, {"a": 1.0, "b": 3.0})
    assert result.totals == [1.0, 3.0, -1.0]
    assert result.unscored == 0


def test_missing_score_adds_nothing_as_in_trl() -> None:
    # Row 0: only b present: 3 * 2 = 6. Row 1: only a (NaN counts as missing): 1 * 5 = 5.
    result = aggregate({"a": [None, 5.0], "b": [2.0, float("nan")]}, {"a": 1.0, "b": 3.0})
    assert result.totals == pytest.approx([6.0, 5.0])
    assert result.unscored == 0


def test_row_with_every_dimension_missing_is_unscored_and_counted() -> None:
    result = aggregate({"a": [None, 1.0, None], "b": [None, 1.0, None]}, {"a": 1.0, "b": 1.0})
    assert result.totals == [None, 2.0, None]
    assert result.unscored == 2


def test_zero_weight_dimension_makes_a_row_scorable_with_total_zero() -> None:
    # TRL marks a row unscorable only when every reward function returned None, weighted or not.
    result = aggregate({"a": [None, None], "b": [4.0, None]}, {"a": 1.0, "b": 0.0})
    assert result.totals == [0.0, None]
    assert result.unscored == 1


def test_stats_describe_raw_scores_per_dimension() -> None:
    result = aggregate({"a": [1.0, None, 3.0], "b": [None, None, None]}, {"a": 1.0})
    a, b = result.stats["a"], result.stats["b"]
    assert (a.scored, a.missing, a.mean, a.std, a.min, a.max) == (2, 1, 2.0, 1.0, 1.0, 3.0)
    assert (b.scored, b.missing, b.mean) == (0, 3, None)


@pytest.mark.parametrize("weights", [{"a": -1.0, "b": 2.0}, {"a": 0.0}, {}, {"a": float("nan")}])
def test_invalid_weights_are_rejected(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        check_weights(weights)
    with pytest.raises(ValueError):
        aggregate({"a": [1.0], "b": [1.0]}, weights)


def test_missing_weighted_dimension_and_ragged_scores_are_errors() -> None:
    with pytest.raises(KeyError, match="b"):
        aggregate({"a": [1.0]}, {"a": 1.0, "b": 1.0})
    with pytest.raises(ValueError, match="different numbers"):
        aggregate({"a": [1.0], "b": [1.0, 2.0]}, {"a": 1.0})


def trl_scoring(tiny_model: str, tmp_path: Path, scores: dict, weights: dict, **config):
    """TRL's GRPOTrainer after one scoring step on fixed `scores` (two groups of four completions)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    def column_reward(name: str):
        def reward(prompts, completions, row, **_):
            return [scores[name][i] for i in row]

        reward.__name__ = name
        return reward

    rows = [{"prompt": [{"role": "user", "content": f"q{i // 4}"}], "row": i} for i in range(8)]
    args = GRPOConfig(
        output_dir=str(tmp_path),
        num_generations=4,
        per_device_train_batch_size=8,
        max_completion_length=2,
        reward_weights=list(weights.values()),
        report_to=[],
        use_cpu=True,
        bf16=False,
        **config,
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[column_reward(n) for n in scores],
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=AutoTokenizer.from_pretrained(tiny_model),
    )
    trainer.model.train()
    generate_and_score(trainer, rows)
    return trainer


def test_aggregate_equals_trls_own_reward_on_a_batch_with_missing_scores(tiny_model: str, tmp_path: Path) -> None:
    """Run TRL's GRPOTrainer scoring step on fixed scores with None in them; its advantages (scale_rewards="none":
    total minus the group's nan-mean, 0 for unscorable rows) and its logged mean reward must follow from our totals."""
    scores = {
        "a": [1.0, None, 0.5, None, 2.0, None, None, 1.0],
        "b": [0.0, 3.0, None, None, 1.0, None, 0.25, 0.5],
        "c": [None, None, None, 5.0, None, None, None, 1.0],  # weight 0: present only to rescue row 3
    }
    weights = {"a": 1.0, "b": 2.0, "c": 0.0}
    trainer = trl_scoring(tiny_model, tmp_path, scores, weights, scale_rewards="none")

    totals = aggregate(scores, weights).totals
    assert totals[3] == 0.0 and totals[5] is None
    expected = []
    for start in (0, 4):
        group = [t for t in totals[start : start + 4] if t is not None]
        base = sum(group) / len(group)
        expected += [0.0 if t is None else t - base for t in totals[start : start + 4]]
    assert logged_advantages(trainer) == pytest.approx(expected, abs=1e-6)
    scored = [t for t in totals if t is not None]
    assert logged(trainer, "reward")[-1] == pytest.approx(sum(scored) / len(scored), abs=1e-6)


def test_a_reward_missing_for_a_whole_group_is_skipped_under_normalize_then_sum(tiny_model: str, tmp_path: Path):
    """An unverified prompt (a chat prompt beside constraint prompts) gets correctness None on every completion of
    its group: that group's advantages must come from the other rewards alone, not be lost to NaN (zeroed)."""
    scores = {
        "correctness": [None, None, None, None, 1.0, 0.0, 0.5, 1.0],
        "conciseness": [1.0, 0.0, 0.5, 0.25, 0.0, 1.0, 1.0, 0.5],
    }
    weights = {"correctness": 1.0, "conciseness": 0.5}
    trainer = trl_scoring(tiny_model, tmp_path, scores, weights, multi_objective_aggregation="normalize_then_sum")

    def normalized(values: list[float]) -> list[float]:  # within a group: TRL's mean and Bessel-corrected std
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        return [(v - mean) / (std + 1e-4) for v in values]

    totals: list[float] = []
    for start in (0, 4):
        group = {name: values[start : start + 4] for name, values in scores.items()}
        scored = {name: normalized(values) for name, values in group.items() if None not in values}
        totals += [sum(weights[name] * z[i] for name, z in scored.items()) for i in range(4)]
    mean = sum(totals) / len(totals)
    std = (sum((t - mean) ** 2 for t in totals) / (len(totals) - 1)) ** 0.5
    expected = [(t - mean) / (std + 1e-4) for t in totals]
    advantages = logged_advantages(trainer)
    assert advantages == pytest.approx(expected, abs=1e-4)
    # The unverified group still learns: its advantages follow conciseness (1.0 > 0.5 > 0.25 > 0.0).
    first = advantages[:4]
    assert all(math.isfinite(a) for a in advantages) and first[0] > first[2] > first[3] > first[1]
    # Prompt selection's totals skip the missing score the same way: conciseness alone, weighted.
    assert aggregate(scores, weights).totals[:4] == [0.5, 0.0, 0.25, 0.125]


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

    def exact(completions: list[str], rows: list[dict]) -> list[Verdict]:
        seen.extend(rows)
        pairs = zip(completions, rows, strict=True)
        return [Verdict(float(c.strip() == row["answer"]), "exact match") for c, row in pairs]

    truthfulness = VerifierDimension("truthfulness", exact, references=("answer",))
    scores = truthfulness(["1+1?", "2+2?", "hi"], ["2", "5", "hello"], answer=["2", "4", None], log_metric=print)
    assert scores == [1.0, 0.0, None]
    assert [row["prompt"] for row in seen] == ["1+1?", "2+2?"]  # the checker never ran on the None row


def test_dimension_names_are_the_six_from_the_report() -> None:
    assert DIMENSIONS == ("truthfulness", "helpfulness", "conciseness", "relevance", "harmlessness", "debiasing")
