"""Metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

import pytest

from align.evaluation.metrics import (
    accuracy,
    mean_pass_at_k,
    pass_at_k,
    reported_ks,
    reward_means,
    sample_counts,
)
from reward import Verdict, get_verifier


def _answers_file(tmp_path: Path, correct: bool) -> Path:
    rows = []
    for a in range(1, 4):
        for b in range(1, 4):
            said = a + b if correct else a + b + 1
            rows.append({"completion": f"{a} + {b} = {said}. The answer is \\boxed{{{said}}}.", "answer": str(a + b)})
    path = tmp_path / f"answers-{correct}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(("correct", "expected"), [(True, 1.0), (False, 0.0)])
def test_math_accuracy_of_a_file_of_right_or_wrong_answers(tmp_path: Path, correct: bool, expected: float):
    rows = [json.loads(line) for line in _answers_file(tmp_path, correct).read_text().splitlines()]
    result = accuracy(get_verifier("math").verify_batch([r["completion"] for r in rows], rows))
    assert result.value == expected
    assert (result.decided, result.undecided) == (9, 0)


def test_undecided_rows_are_counted_not_scored_wrong():
    result = accuracy([Verdict(1.0, "ok"), Verdict(None, "no reference"), Verdict(0.0, "wrong")])
    assert result.value == 0.5
    assert (result.decided, result.undecided) == (2, 1)
    assert accuracy([Verdict(None, "?")]).value is None


@pytest.mark.parametrize(("n", "c", "k", "expected"), [(5, 2, 1, 0.4), (5, 2, 2, 0.7), (5, 0, 3, 0.0), (5, 4, 2, 1.0)])
def test_pass_at_k_hand_computed(n: int, c: int, k: int, expected: float):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_matches_the_binomial_formula_where_binomials_overflow_floats():
    n, c, k = 2000, 7, 100
    exact = 1 - comb(n - c, k) / comb(n, k)  # Python ints: exact, but float(comb(2000, 100)) would overflow
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_mean_pass_at_k_leaves_out_problems_with_too_few_judged_samples():
    assert mean_pass_at_k([(5, 2), (5, 0), (1, 1)], k=2) == pytest.approx((0.7 + 0.0) / 2)
    assert mean_pass_at_k([(1, 1)], k=2) is None


def test_sample_counts_ignores_undecided_samples():
    verdicts = [Verdict(1.0, ""), Verdict(0.5, ""), Verdict(None, ""), Verdict(1.0, "")]
    assert sample_counts(verdicts) == (3, 2)


def test_reported_ks():
    assert reported_ks(1) == []
    assert reported_ks(4) == [4]
    assert reported_ks(20) == [5, 10, 20]


def test_reward_means_per_dimension_and_total_with_a_missing_score():
    rows = [{"truthfulness": 1.0, "helpfulness": 3.0}, {"truthfulness": 2.0, "helpfulness": None}]
    means = reward_means(rows, ["truthfulness", "helpfulness"])
    assert means["truthfulness"] == pytest.approx(1.5)
    assert means["helpfulness"] == pytest.approx(3.0)
    # Row 2 lacks helpfulness: it adds nothing to that row's total (2.0), as in TRL's reward; the row still counts.
    assert means["total"] == pytest.approx((4.0 + 2.0) / 2)
