"""The ifeval verifier on hand-written answers: each constraint type the shipped data uses, met and missed,
strict and loose; the two verdict rules; and the refusal of constraints that cannot be checked offline."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import nltk
import pytest

from reward import VERIFIERS, VerifierName, check_constraints, get_verifier
from reward.verifiers.ifeval_checkers import NLTK_RESOURCES, registry, unavailable

DATA = Path(__file__).resolve().parents[2] / "data" / "instruct"

# (constraint type, its kwargs, an answer that meets it, one that misses it)
CASES = [
    ("punctuation:no_comma", {}, "No commas here at all.", "Well, there is one."),
    ("change_case:english_lowercase", {}, "all lower case words.", "One Capital here."),
    ("change_case:english_capital", {}, "ALL CAPITALS HERE.", "NOT quite all."),
    ("startend:end_checker", {"end_phrase": "Stay safe."}, "Be careful out there. Stay safe.", "Stay safe. Bye."),
    ("startend:quotation", {}, '"Wrapped in quotes."', "Not wrapped."),
    (
        "length_constraints:number_words",
        {"relation": "less than", "num_words": 5},
        "Four words right here.",
        "This answer has far too many words in it.",
    ),
    (
        "length_constraints:number_words",
        {"relation": "at least", "num_words": 5},
        "One two three four five six.",
        "Too short.",
    ),
    (
        "length_constraints:number_paragraphs",
        {"num_paragraphs": 2},
        "First part.\n\n***\n\nSecond part.",
        "Only one paragraph.",
    ),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n* two", "* one\n* two\n* three"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and *two*", "*only one*"),
    ("detectable_format:title", {}, "<<A Title>>\n\nBody.", "No title here."),
    ("detectable_format:json_format", {}, '{"answer": "yes"}', "answer: yes"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Body.\n\nP.S. See you.", "Body only."),
    ("keywords:existence", {"keywords": ["calm", "light"]}, "A calm and light day.", "A calm day."),
    ("keywords:forbidden_words", {"forbidden_words": ["never", "awful"]}, "A fine day.", "I never liked it."),
    # IFBench types of the unseen-constraints eval set
    ("count:word_count_range", {"min_words": 3, "max_words": 5}, "Three small words.", "Two."),
    ("count:numbers", {"N": 2}, "I saw 3 cats and 4 dogs.", "I saw 3 cats."),
    ("count:pronouns", {"N": 3}, "I told her that we would go.", "The cat sat."),
    ("count:conjunctions", {"small_n": 2}, "Tea and cake, but no coffee.", "Tea with cake."),
    ("count:unique_word_count", {"N": 4}, "one two three four", "one one one"),
    ("words:alphabet", {}, "Apples bring cheer daily.", "Apples cheer daily."),
    ("words:no_consecutive", {}, "Apples bring cheer.", "Big bright apples."),
    ("words:prime_lengths", {}, "to the sea", "a house"),
    ("format:newline", {}, "one\ntwo\nthree", "one two three"),
    ("format:parentheses", {}, "(a [b {c (d [e])}])", "(a [b])"),
    ("format:sub-bullets", {}, "* point\n  - detail", "* point"),
    ("words:vowel", {}, "A cat sat at a mat.", "A cat sat on the mute bus."),
    ("words:consonants", {}, "Strong black trucks.", "A strong truck."),
    ("format:quotes", {}, """He said "she said 'they said "hi" to us' to me" loudly.""", 'He said "hi" loudly.'),
    ("format:line_indent", {}, "first\n second\n  third", "first\nsecond"),
]


def _row(instruction_id: str, kwargs: dict, prompt: str = "Write something.") -> dict:
    return {"prompt": prompt, "instruction_id_list": [instruction_id], "kwargs": [kwargs]}


@pytest.mark.parametrize(("instruction_id", "kwargs", "meets", "misses"), CASES, ids=[c[0] for c in CASES])
def test_each_constraint_type_is_met_and_missed(instruction_id: str, kwargs: dict, meets: str, misses: str) -> None:
    row = _row(instruction_id, kwargs)
    (met,) = check_constraints(meets, row)
    (missed,) = check_constraints(misses, row)
    assert (met.strict, met.loose) == (True, True)
    assert missed.strict is False


def test_every_type_the_data_uses_has_a_case() -> None:
    used = {
        i for split in ("prompts", "eval", "eval_ifbench") for row in _rows(split) for i in row["instruction_id_list"]
    }
    assert used - {c[0] for c in CASES} == set()


def test_loose_forgives_markdown_and_a_trailing_line_strict_does_not() -> None:
    row = _row("startend:end_checker", {"end_phrase": "Stay safe."})
    (bold,) = check_constraints("Take care. **Stay safe.**", row)
    (signed,) = check_constraints("Take care. Stay safe.\n-- the assistant", row)
    assert (bold.strict, bold.loose) == (False, True)
    assert (signed.strict, signed.loose) == (False, True)


def test_share_and_all_or_nothing_verdicts() -> None:
    row = {
        "prompt": "Say hi.",
        "instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase", "startend:end_checker"],
        "kwargs": [{}, {}, {"end_phrase": "bye."}],
    }
    answers = ["hello there, bye.", "hello there bye.", ""]
    share = get_verifier("ifeval").verify_batch(answers, [row] * 3)
    whole = get_verifier("ifeval_all").verify_batch(answers, [row] * 3)
    assert [v.score for v in share] == pytest.approx([2 / 3, 1.0, 0.0])
    assert [v.score for v in whole] == [0.0, 1.0, 0.0]
    assert "missed punctuation:no_comma" in share[0].reason


def test_a_constraint_that_reads_the_prompt_gets_it_from_a_chat_prompt() -> None:
    request = "Name a colour."
    row = {
        "prompt": [{"role": "user", "content": request}],
        "instruction_id_list": ["combination:repeat_prompt"],
        "kwargs": [{"prompt_to_repeat": request}],
    }
    (verdict,) = get_verifier("ifeval").verify_batch([f"{request} Blue."], [row])
    assert verdict.score == 1.0


def test_unknown_or_nltk_constraints_are_refused_not_scored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])  # no NLTK data anywhere
    assert "needs NLTK data" in (unavailable("length_constraints:number_sentences") or "")
    assert "unknown constraint type" in (unavailable("made:up") or "")
    (verdict,) = get_verifier("ifeval").verify_batch(
        ["Two. Sentences."], [_row("length_constraints:number_sentences", {"relation": "at least", "num_sentences": 1})]
    )
    assert verdict.score is None


def test_every_type_outside_the_nltk_table_runs_without_nltk_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The NLTK table is complete: every other checker runs (on an answer that exercises the tokenisers)."""
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    text = "Hello World. This is a Test, of the checker! Is it fine?\n\n* one\n* two\nP.S. bye"
    needs_arguments = {"combination:repeat_prompt", "ratio:overlap", "repeat:repeat_change", "repeat:repeat_span"}
    for instruction_id, checker_class in registry().items():
        if instruction_id in NLTK_RESOURCES or instruction_id in needs_arguments:
            continue
        checker = checker_class(instruction_id)
        checker.build_description()
        checker.check_following(text)  # a LookupError here means the type needs NLTK data


def test_verifier_names_in_the_schema_are_the_registry() -> None:
    assert set(typing.get_args(VerifierName)) == set(VERIFIERS)


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_grpo_reward_gets_the_prompt_trl_passes_apart_from_the_columns() -> None:
    """TRL hands a reward function the prompt as `prompts`, not among the row's columns; the ifeval verifier
    needs it as a column (and some constraints read it), so it must not be judged as missing."""
    from reward.dimensions import VerifierDimension

    verifier = get_verifier("ifeval")
    dimension = VerifierDimension("correctness", verifier.verify_batch, verifier.columns)
    prompts = [[{"role": "user", "content": "Say hi without commas."}]] * 2
    completions = [[{"role": "assistant", "content": "hi there"}], [{"role": "assistant", "content": "hi, there"}]]
    verdicts = dimension.score(
        prompts, completions, instruction_id_list=[["punctuation:no_comma"]] * 2, kwargs=[[{}], [{}]]
    )
    assert [v.score for v in verdicts] == [1.0, 0.0]
