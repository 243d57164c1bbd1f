"""Plain-text measures of an answer that a reward can be gamed with: its length and how much it repeats itself.

They describe answers, they do not grade them: a rise in reward that comes with twice the words or a loop of
the same phrase is reward hacking, not a better answer. Neither is "higher is better".

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
DESCRIPTIVE_METRICS = (LENGTH_METRIC, REPETITION_METRIC)


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


def answer_columns(answers: Sequence[str]) -> dict[str, list[float | None]]:
    """Each answer's length and repetition rate, in the shape of a suite's `per_problem` values."""
    return {
        LENGTH_METRIC: [float(length_words(a)) for a in answers],
        REPETITION_METRIC: [repetition_rate(a) for a in answers],
    }
