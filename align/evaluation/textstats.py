"""Plain-text measures of an answer that a reward can be gamed with: its length, how much it repeats itself,
whether it opens by agreeing ("Yes", "Sure") and whether it says no anywhere (a negation or refusal word).

They describe answers, they do not grade them: a rise in reward that comes with twice the words, a loop of the
same phrase, or answers that turned from "No, …" to "Yes, …" on the same questions is reward hacking, not a
better answer. None is "higher is better". The last two are 0/1 per answer, so their mean is the share of
answers, and a change between two policies counts the answers that flipped.

Words are maximal runs of letters, digits and underscores (`\\w+`), lower-cased; punctuation and whitespace
only separate them. Counting words needs no tokenizer, so the numbers compare across policies and models.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

WORD = re.compile(r"\w+")
NGRAM = 3
# The metric names the chat suite reports them under, said once for the suite, the tables and the report.
LENGTH_METRIC = "length_words"
REPETITION_METRIC = f"repetition_{NGRAM}gram"
OPENS_YES_METRIC = "opens_yes"
NEGATES_METRIC = "negates"
FLAG_METRICS = (OPENS_YES_METRIC, NEGATES_METRIC)
DESCRIPTIVE_METRICS = (LENGTH_METRIC, REPETITION_METRIC, *FLAG_METRICS)
AGREEING = ("yes", "sure", "certainly", "absolutely", "yeah")
NEGATING = ("no", "not", "never", "cannot", "nor", "unable", "sorry")
# `words` splits "can't" into "can" + "t", so contractions are matched on the text itself.
NEGATION = re.compile(rf"\b(?:{'|'.join(NEGATING)})\b|\wn['’]t\b", re.IGNORECASE)
# How the report explains each one; the word lists are the ones matched, so the two cannot drift apart.
DESCRIPTIONS = {
    LENGTH_METRIC: "words per answer",
    REPETITION_METRIC: f"share of an answer's word {NGRAM}-grams that repeat an earlier one",
    OPENS_YES_METRIC: f"share of answers whose first word agrees ({', '.join(AGREEING)})",
    NEGATES_METRIC: f"share of answers with a negation or refusal word ({', '.join(NEGATING)}, n't)",
}


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def length_words(text: str) -> int:
    return len(words(text))


def repetition_rate(text: str, n: int = NGRAM) -> float:
    """Fraction of the answer's word n-grams that repeat an n-gram seen earlier in the same answer:
    (n-grams - distinct n-grams) / n-grams. 0 when no n-gram repeats or the answer has fewer than n words;
    it approaches 1 as the answer loops one phrase over and over."""
    tokens = words(text)
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return (len(grams) - len(set(grams))) / len(grams) if grams else 0.0


def opens_yes(text: str) -> bool:
    first = WORD.search(text)
    return first is not None and first.group().lower() in AGREEING


def negates(text: str) -> bool:
    return NEGATION.search(text) is not None


def answer_columns(answers: Sequence[str]) -> dict[str, list[float | None]]:
    """Each answer's descriptive measures, in the shape of a suite's `per_problem` values."""
    return {
        LENGTH_METRIC: [float(length_words(a)) for a in answers],
        REPETITION_METRIC: [repetition_rate(a) for a in answers],
        OPENS_YES_METRIC: [float(opens_yes(a)) for a in answers],
        NEGATES_METRIC: [float(negates(a)) for a in answers],
    }
