"""Rejection sampling rules: which samples become chosen and rejected, and why a prompt yields none."""

from __future__ import annotations

from align.stages.pairs.selection import Sample, SelectionRules, select_pairs
from reward.result import Verdict


def s(text: str, score: float | None) -> Sample:
    return Sample(text, Verdict(score, "test"))


def test_shortest_passing_is_chosen_and_worst_failing_rejected():
    samples = [s("long correct answer 7", 1.0), s("7", 1.0), s("partly", 0.5), s("wrong", 0.0)]
    pairs, reason = select_pairs(samples, SelectionRules())
    assert reason is None
    assert [(p.chosen.text, p.rejected.text) for p in pairs] == [("7", "wrong")]


def test_prefer_longest_when_asked():
    samples = [s("long correct answer 7", 1.0), s("7", 1.0), s("wrong", 0.0)]
    pairs, _ = select_pairs(samples, SelectionRules(prefer_shortest=False))
    assert pairs[0].chosen.text == "long correct answer 7"


def test_best_score_beats_length_for_partial_credit():
    samples = [s("passes all tests but long", 1.0), s("short", 0.9), s("x", 0.0)]
    pairs, _ = select_pairs(samples, SelectionRules(pass_threshold=0.8))
    assert pairs[0].chosen.text == "passes all tests but long"


def test_max_pairs_limits_and_pairs_are_distinct():
    samples = [s("a", 1.0), s("bb", 1.0), s("ccc", 1.0), s("x", 0.0), s("yy", 0.0)]
    pairs, _ = select_pairs(samples, SelectionRules(max_pairs=2))
    assert [(p.chosen.text, p.rejected.text) for p in pairs] == [("a", "yy"), ("bb", "x")]


def test_each_distinct_sample_of_the_larger_side_is_used_once_and_the_smaller_side_cycles():
    samples = [s("7", 1.0), s("the answer is 7", 1.0), s("x", 0.0), s("yy", 0.0), s("zzz", 0.0)]
    pairs, _ = select_pairs(samples, SelectionRules(max_pairs=5))
    assert [(p.chosen.text, p.rejected.text) for p in pairs] == [
        ("7", "zzz"), ("the answer is 7", "yy"), ("7", "x")
    ]
    assert len({(p.chosen.text, p.rejected.text) for p in pairs}) == len(pairs)


def test_one_right_answer_meets_every_distinct_wrong_one():
    samples = [s("7", 1.0), s("7", 1.0), s("6", 0.0), s("8", 0.0), s("12", 0.0)]
    pairs, _ = select_pairs(samples, SelectionRules(max_pairs=4))
    assert sorted(p.rejected.text for p in pairs) == ["12", "6", "8"]
    assert {p.chosen.text for p in pairs} == {"7"}


def test_identical_texts_count_once():
    samples = [s("7", 1.0), s(" 7 ", 1.0), s("8", 0.0)]
    pairs, _ = select_pairs(samples, SelectionRules(max_pairs=3))
    assert [(p.chosen.text.strip(), p.rejected.text) for p in pairs] == [("7", "8")]


def test_all_pass_all_fail_and_undecided_give_reasons():
    assert select_pairs([s("a", 1.0), s("b", 1.0)], SelectionRules()) == ([], "all_passed")
    assert select_pairs([s("a", 0.0), s("b", 0.0)], SelectionRules()) == ([], "all_failed")
    assert select_pairs([s("a", None), s("b", None)], SelectionRules()) == ([], "undecided")


def test_undecided_samples_are_never_paired():
    pairs, reason = select_pairs([s("a", None), s("b", 1.0)], SelectionRules())
    assert pairs == [] and reason == "all_passed"
