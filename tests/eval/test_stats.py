"""Intervals and paired tests on cases whose answers can be worked out by hand."""

from __future__ import annotations

import math

import pytest

from align.evaluation import stats
from align.evaluation.stats import add_statistics, mcnemar_exact, mean_interval, paired_change
from align.evaluation.table import change_rows


@pytest.mark.parametrize(
    ("improved", "worsened", "expected"),
    [
        (0, 0, 1.0),  # no discordant problem: no evidence
        (0, 5, 2 / 32),  # five of five one way: 2 · (1/2)^5
        (1, 9, 2 * (1 + 10) / 1024),  # 2 · P(X ≤ 1), X ~ Bin(10, 1/2)
        (5, 5, 1.0),
        (2, 3, 1.0),  # 2 · (1 + 5 + 10) / 32 = 1, capped
        (3, 12, 2 * (1 + 15 + 105 + 455) / 2**15),  # 0.03516
    ],
)
def test_mcnemar_exact_hand_computed(improved: int, worsened: int, expected: float):
    assert mcnemar_exact(improved, worsened) == pytest.approx(expected)
    assert mcnemar_exact(worsened, improved) == pytest.approx(expected)  # two-sided: symmetric


def test_mcnemar_exact_stays_finite_where_2_to_the_n_overflows_floats():
    assert 0.0 < mcnemar_exact(700, 620) < 0.05  # 1320 discordant: 2**1320 is not a float
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_interval_of_a_proportion_matches_the_normal_approximation():
    values = [1.0, 0.0] * 200  # p = 0.5, n = 400: ± 1.96 · sqrt(0.25 / 400) = ± 0.049
    low, high = mean_interval(values, seed=3)
    assert low == pytest.approx(0.451, abs=0.012) and high == pytest.approx(0.549, abs=0.012)
    assert low < 0.5 < high


def test_interval_is_reproducible_and_ignores_unjudged_problems():
    values = [1.0, 0.0, 0.0, 1.0, 1.0, None, float("nan")] * 10
    first = mean_interval(values, seed=0, labels=("sft", "math", "accuracy"))
    assert first == mean_interval(values, seed=0, labels=("sft", "math", "accuracy"))
    spread = [math.sqrt(i) for i in range(50)]  # means off any grid, so a new seed shows in the bounds
    assert mean_interval(spread, seed=0) != mean_interval(spread, seed=1)
    assert first[0] < 0.6 < first[1]  # 30 of the 50 judged problems are right
    assert mean_interval([0.25] * 9) == (0.25, 0.25)  # no spread, no width
    assert mean_interval([None, None]) is None


def test_a_binary_change_on_many_problems_excludes_zero():
    before = [0.0] * 60 + [1.0] * 40
    after = [1.0] * 30 + [0.0] * 30 + [1.0] * 40  # 30 fixed, none broken
    change = paired_change(before, after, binary=True)
    assert (change.improved, change.worsened, change.n) == (30, 0, 100)
    assert change.diff == pytest.approx(0.30) and change.before == 0.4 and change.after == 0.7
    assert change.p == pytest.approx(2 / 2**30)
    assert change.test == "McNemar exact"
    assert 0 < change.low < 0.30 < change.high


def test_a_binary_change_of_one_problem_is_noise():
    before = [1.0] * 40 + [0.0] * 60
    after = [0.0] * 5 + [1.0] * 35 + [1.0] * 6 + [0.0] * 54  # 6 fixed, 5 broken: +1 problem
    change = paired_change(before, after, binary=True)
    assert (change.improved, change.worsened) == (6, 5)
    assert change.diff == pytest.approx(0.01)
    assert change.p == pytest.approx(1.0)  # 2 · P(X ≤ 5), X ~ Bin(11, 1/2) = 2 · 0.5 → capped at 1
    assert change.low < 0 < change.high


def test_paired_bootstrap_of_a_real_valued_shift():
    before = [i / 100 for i in range(100)]
    shifted = paired_change(before, [b + 0.1 for b in before], binary=False)
    # Every problem gains exactly 0.1: the paired difference has no spread, unlike the two means.
    assert (shifted.diff, shifted.low, shifted.high) == pytest.approx((0.1, 0.1, 0.1))
    assert shifted.p == pytest.approx(2 / 2001) and shifted.test == "paired bootstrap"
    # A difference that alternates sign around 0 shows nothing.
    noise = paired_change(before, [b + (0.05 if i % 2 else -0.05) for i, b in enumerate(before)], binary=False)
    assert noise.low < 0 < noise.high and noise.p > 0.5


def test_pairs_only_problems_judged_under_both_policies():
    change = paired_change([1.0, None, 0.0, 0.0], [1.0, 1.0, None, 1.0], binary=True)
    assert change.n == 2 and (change.improved, change.worsened) == (1, 0)
    assert paired_change([None], [1.0], binary=True) is None
    with pytest.raises(ValueError, match="same problems"):
        paired_change([1.0], [1.0, 0.0], binary=True)


def _suite(values: list[float | None]) -> dict:
    judged = [v for v in values if v is not None]
    return {"metrics": {"accuracy": sum(judged) / len(judged)}, "n": len(values), "per_problem": {"accuracy": values}}


def test_add_statistics_compares_each_stage_with_the_one_it_started_from():
    results = {
        "models": {
            "base": {"init": None, "suites": {"math": _suite([0.0] * 20 + [1.0] * 20)}},
            "sft": {"init": "base", "suites": {"math": _suite([1.0] * 30 + [0.0] * 10)}},
            "dpo": {"init": "sft", "suites": {"math": _suite([1.0] * 30 + [0.0] * 10)}},
            "other": {"init": "base", "suites": {"math": _suite([1.0] * 3)}},  # other problems: no pairing
            "old": {"init": "base", "suites": {"math": {"metrics": {"accuracy": 0.5}, "n": 40}}},  # stored earlier
        }
    }
    add_statistics(results, seed=7)
    low, high = results["models"]["sft"]["suites"]["math"]["intervals"]["accuracy"]
    assert low < 0.75 < high
    assert "intervals" not in results["models"]["old"]["suites"]["math"]
    by_model = {c["model"]: c for c in results["comparisons"]}
    assert set(by_model) == {"sft", "dpo"}
    sft = by_model["sft"]
    # base is wrong on the first 20, sft right on the first 30: 20 fixed; base right on 30-39, sft wrong: 10 broken.
    assert (sft["against"], sft["improved"], sft["worsened"], sft["n"]) == ("base", 20, 10, 40)
    assert sft["p"] == pytest.approx(2 * sum(math.comb(30, i) for i in range(11)) / 2**30)
    assert by_model["dpo"]["diff"] == 0.0 and by_model["dpo"]["p"] == 1.0
    assert results["statistics"] == {"level": 0.95, "resamples": 2000, "seed": 7}
    again = add_statistics({"models": results["models"]}, seed=7)
    assert again["comparisons"] == results["comparisons"]  # seeded: the same numbers every time

    rows = change_rows(results)
    assert rows[0][:4] == ["base → sft", "math accuracy", "40", "0.500 → 0.750"]
    assert rows[0][6] == "McNemar exact (20 fixed, 10 broken)"


def test_clustered_mcnemar_is_mcnemars_statistic_when_every_cluster_is_one_problem():
    diffs = [1.0] * 9 + [-1.0] * 3 + [0.0] * 20
    p = stats.clustered_mcnemar(diffs, [str(i) for i in range(len(diffs))])
    assert p == pytest.approx(math.erfc(math.sqrt((9 - 3) ** 2 / (9 + 3) / 2)))  # chi2 = 36 / 12 = 3: p = 0.0833
    # Two clusters of three fixed problems each and one of three broken: (6 - 3)² / (9 + 9 + 9) = 1/3.
    grouped = stats.clustered_mcnemar([1.0] * 6 + [-1.0] * 3, list("aaabbbccc"))
    assert grouped == pytest.approx(math.erfc(math.sqrt(1 / 3 / 2)))
    assert stats.clustered_mcnemar([0.0, 0.0], ["a", "b"]) == 1.0


def test_clustered_interval_is_wider_when_clusters_repeat_one_answer():
    # 40 keys each asked 5 times, every answer to a key the same: really 40 problems, not 200.
    values = [float(k % 2) for k in range(40) for _ in range(5)]
    clusters = [str(k) for k in range(40) for _ in range(5)]
    rows_low, rows_high = mean_interval(values)
    keys_low, keys_high = mean_interval(values, clusters=clusters)
    assert keys_high - keys_low > 1.8 * (rows_high - rows_low)  # sqrt(5) = 2.24 ideally
    assert keys_low < 0.5 < keys_high
    with pytest.raises(ValueError, match="label every problem"):
        mean_interval(values, clusters=clusters[:-1])


def test_paired_change_uses_the_clustered_test_only_when_a_cluster_repeats():
    before, after = [0.0] * 10, [1.0] * 6 + [0.0] * 4
    single = paired_change(before, after, binary=True, clusters=[str(i) for i in range(10)])
    assert single.test == "McNemar exact" and single.p == pytest.approx(2 / 2**6)
    grouped = paired_change(before, after, binary=True, clusters=list("aabbccddee"))
    # Clusters a, b, c gain 2 each; d gains 0, e gains 0: 36 / 12 = 3.
    assert grouped.test == "clustered McNemar" and grouped.p == pytest.approx(math.erfc(math.sqrt(3 / 2)))


def test_add_statistics_pairs_clustered_results_with_the_clustered_test():
    clusters = [f"k{i // 2}" for i in range(20)]  # each key asked twice
    results = {
        "models": {
            "base": {"init": None, "suites": {"math": _suite([0.0] * 20) | {"clusters": clusters}}},
            "sft": {"init": "base", "suites": {"math": _suite([1.0] * 10 + [0.0] * 10) | {"clusters": clusters}}},
        }
    }
    (change,) = add_statistics(results)["comparisons"]
    # Five keys gain 2 each: (10)² / (5 · 4) = 5.
    assert change["test"] == "clustered McNemar" and change["p"] == pytest.approx(math.erfc(math.sqrt(5 / 2)))
