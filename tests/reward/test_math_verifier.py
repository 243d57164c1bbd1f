import threading

import pytest

from reward.verifiers.math import extract_answer, verify_math


@pytest.mark.parametrize("completion", ["1/2", "0.5", "\\frac{1}{2}", "\\dfrac{1}{2}", "The answer is $\\frac12$."])
@pytest.mark.parametrize("reference", ["1/2", "0.5", "\\frac{1}{2}"])
def test_half_in_every_notation_is_equal(completion: str, reference: str) -> None:
    verdict = verify_math(completion, reference)
    assert verdict.score == 1.0, verdict.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{\\frac{1}{2}} done", "\\frac{1}{2}"),
        ("\\boxed{\\frac{\\sqrt{4}}{4}}", "\\frac{\\sqrt{4}}{4}"),
        ("First \\boxed{3}, then corrected: \\boxed{4}.", "4"),
        ("The answer is \\boxed{}. 7 + 5 = 12", "12"),
        ("\\boxed{12 \\text{ apples}}", "12"),
        ("The answer is 12.", "12"),
        ("The answer is 12 apples because 5 + 7 = 12", "12"),
        ("Answer: 42", "42"),
        ("Work...\n#### 1,234", "1234"),
        ("The final answer is 1,234,567 dollars.", "1234567"),
        ("7 + 5 = 12.", "12"),
        ("It is -3.", "-3"),
        ("The answer is \u22127.", "-7"),
        ("x = 5 - 8 = -3", "-3"),
        ("9 - 4 = 5", "5"),
        ("half is \\frac{1}{2}.", "\\frac{1}{2}"),
    ],
)
def test_extract_answer(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_boxed_answer_with_nested_braces_is_verified() -> None:
    assert verify_math("We get \\boxed{\\frac{\\sqrt{4}}{4}}.", "1/2").score == 1.0


def test_answer_phrase_is_verified() -> None:
    verdict = verify_math("Adding them, the answer is 12.", "12")
    assert verdict.score == 1.0
    assert verdict.reason == "extracted 12, expected 12: equal"


def test_gsm8k_thousands_separator() -> None:
    assert verify_math("She earns 1,200 + 34.\n#### 1,234", "1234").score == 1.0


def test_wrong_answer_scores_zero_and_says_why() -> None:
    verdict = verify_math("7 + 5 = 13. The answer is \\boxed{13}.", "12")
    assert verdict.score == 0.0
    assert verdict.reason == "extracted 13, expected 12: not equal"


def test_no_answer_scores_zero_with_reason() -> None:
    verdict = verify_math("I am not sure how to solve this.", "12")
    assert verdict.score == 0.0
    assert verdict.reason == "no answer found"


def test_unparsable_reference_is_undecided() -> None:
    verdict = verify_math("The answer is 3.", "???")
    assert verdict.score is None
    assert "reference" in verdict.reason


def test_negative_numbers_keep_their_sign() -> None:
    assert verify_math("5 - 8 = -3", "-3").score == 1.0
    assert verify_math("The answer is 3.", "-3").score == 0.0


def test_placeholder_in_box_is_wrong_not_undecided() -> None:
    assert verify_math("The answer is \\boxed{N}.", "7").score == 0.0


def test_call_from_worker_thread_works() -> None:
    # math-verify's default timeout uses signal.alarm, which raises outside the main thread.
    results = []
    errors = []

    def work() -> None:
        try:
            results.append(verify_math("\\boxed{\\dfrac{1}{2}}", "0.5"))
        except Exception as e:  # surfaced below; an exception in a thread would otherwise vanish
            errors.append(e)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    assert results[0].score == 1.0
