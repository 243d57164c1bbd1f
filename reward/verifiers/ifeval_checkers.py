"""The IFEval (25 types) and IFBench (58 types) constraint checkers of the `if-verifiable` package, loaded offline.

The checkers are the package's, unchanged; this module only decides which of them can run here. Some need NLTK
data (a sentence splitter, a POS tagger, a stop-word list) that no pip package installs, and NLTK would fetch
it from the network on first use — which align never does at run time. So those types are *unavailable*
unless the data is already on NLTK's search path (`NLTK_DATA`, `~/nltk_data`, ...), and `align validate`
refuses a row that asks for one, in one line, before any model loads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Constraint types whose checker reads NLTK data, and the resources it reads. Found by reading the checkers and
# confirmed by running each one without the data (tests/reward/test_ifeval_verifier.py runs every other type).
NLTK_RESOURCES: dict[str, tuple[str, ...]] = {
    "length_constraints:number_sentences": ("tokenizers/punkt_tab/english/",),
    "change_case:capital_word_frequency": ("tokenizers/punkt_tab/english/",),
    "ratio:stop_words": ("corpora/stopwords",),
    "words:start_verb": ("tokenizers/punkt_tab/english/", "taggers/averaged_perceptron_tagger_eng"),
    "words:words_position": ("tokenizers/punkt_tab/english/",),
    "words:keywords_specific_position": ("tokenizers/punkt_tab/english/",),
    "format:title_case": ("tokenizers/punkt_tab/english/",),
    "format:no_bullets_bullets": ("tokenizers/punkt_tab/english/",),
}


@contextmanager
def _no_downloads() -> Iterator[None]:
    """IFBench's module calls `nltk.download` when imported; offline that would reach for the network (and
    fail slowly or quietly). Missing data is handled by `unavailable` instead, so the call is a no-op here."""
    import nltk

    download = nltk.download
    nltk.download = lambda *args, **kwargs: False
    try:
        yield
    finally:
        nltk.download = download


@functools.cache
def registry() -> dict[str, Any]:
    """Constraint type -> checker class, IFEval's and IFBench's together (their type names do not overlap)."""
    from langdetect import DetectorFactory

    # The language checks (english_capital, english_lowercase, response_language) call langdetect, which
    # samples at random: unseeded, one answer could pass on one call and fail on the next. Seeded, a verdict is
    # the same on every call and every machine (the shipped SFT answers are verified this way at build time).
    DetectorFactory.seed = 0
    with _no_downloads():
        from if_verifiable.ifbench.instructions_registry import INSTRUCTION_DICT as IFBENCH
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT as IFEVAL
    return {**IFBENCH, **IFEVAL}


@functools.cache
def ifeval_types() -> frozenset[str]:
    """IFEval's own types (the rest of `registry()` is IFBench's)."""
    with _no_downloads():
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
    return frozenset(INSTRUCTION_DICT)


def unavailable(instruction_id: str) -> str | None:
    """Why a constraint type cannot be checked here, or None when it can."""
    if instruction_id not in registry():
        return f"unknown constraint type {instruction_id!r} (not an IFEval or IFBench type)"
    missing = [r for r in NLTK_RESOURCES.get(instruction_id, ()) if not _nltk_has(r)]
    if missing:
        return (
            f"constraint {instruction_id!r} needs NLTK data {missing[0]!r}, which is not installed and is never "
            "downloaded at run time (put it under $NLTK_DATA to use this type)"
        )
    return None


def _nltk_has(resource: str) -> bool:
    import nltk

    try:
        nltk.data.find(resource)
    except LookupError:
        return False
    return True
