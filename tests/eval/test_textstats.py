"""Answer length, repetition rate and the yes/negation flags on hand-written strings, with the expected values
worked out by hand."""

from __future__ import annotations

import pytest

from align.evaluation.textstats import answer_columns, length_words, negates, opens_yes, repetition_rate, words


def test_words_are_lower_cased_runs_of_letters_and_digits():
    # "It's" splits at the apostrophe: hello / world / it / s / 42.
    assert words("Hello, world!  It's 42.") == ["hello", "world", "it", "s", "42"]
    assert length_words("Hello, world!  It's 42.") == 5
    assert length_words("") == 0 and length_words(" ... !? ") == 0


def test_repetition_rate_counts_three_grams_seen_before_in_the_answer():
    # the cat sat the cat sat: 3-grams (the cat sat) (cat sat the) (sat the cat) (the cat sat): 4, 3 distinct → 1/4.
    assert repetition_rate("the cat sat the cat sat") == 0.25
    # Case and punctuation do not hide a repeat: the same six words.
    assert repetition_rate("The cat sat. the CAT sat!") == 0.25
    # go ×5: three 3-grams, all (go go go), 1 distinct → 2/3.
    assert repetition_rate("go go go go go") == pytest.approx(2 / 3)
    # one two three four: (one two three) (two three four), both new → 0.
    assert repetition_rate("one two three four") == 0.0


def test_repetition_rate_is_zero_below_three_words_and_follows_n():
    assert repetition_rate("") == 0.0 and repetition_rate("yes yes") == 0.0
    # yes yes yes with 2-grams: (yes yes) twice, 1 distinct → 1/2.
    assert repetition_rate("yes yes yes", n=2) == 0.5


def test_answer_columns_give_one_value_per_answer_under_the_metric_names():
    # 6 words with rate 1/4; 2 words with no 3-gram.
    assert answer_columns(["the cat sat the cat sat", "Hi there", "Yes, you can't."]) == {
        "length_words": [6.0, 2.0, 4.0],  # yes / you / can / t
        "repetition_3gram": [0.25, 0.0, 0.0],
        "opens_yes": [0.0, 0.0, 1.0],
        "negates": [0.0, 0.0, 1.0],
    }


def test_opens_yes_reads_only_the_first_word():
    assert opens_yes("Yes, tuples are mutable.") and opens_yes("  sure. You can buy one") and opens_yes("YEAH")
    # Agreement later in the answer, or a word that only starts like one, is not an opening yes.
    assert not opens_yes("No. Yes, sometimes.") and not opens_yes("Yesterday it rained.") and not opens_yes("")


def test_negates_finds_negation_and_refusal_words_and_contractions():
    for text in ("No, tuples are immutable.", "It is not safe.", "I cannot help", "I'm sorry.", "It won’t", "don't"):
        assert negates(text), text
    # Whole words only: "know", "nothing", "notable", "cannon" and "snow" carry no negation.
    for text in ("I know nothing notable about the cannon in the snow.", "Yes, you can.", ""):
        assert not negates(text), text
