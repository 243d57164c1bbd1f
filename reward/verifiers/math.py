"""Math answer verifier: pull the final answer out of a completion and check it against a reference.

Extraction is ours (boxed, "the answer is", "Answer:", GSM8K "####", else the last number); equivalence is
math-verify's, with an exact plain-number comparison for answers math-verify cannot parse.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from math_verify import parse, verify
from sympy import Basic, MatrixBase

from reward.result import Verdict

# math-verify's timeout uses signal.alarm, which exists only in the main thread; elsewhere we turn the timeout
# off and bound the work instead by refusing to hand it long strings (see _MAX_SYMBOLIC_CHARS).
_TIMEOUT_S = 5
# A final answer longer than this is not a number or a short expression; sympy on it can take unbounded time
# when no timeout is available, so it gets only the plain-number comparison.
_MAX_SYMBOLIC_CHARS = 200

_BOX_OPENERS = ("\\boxed{", "\\fbox{")
_GSM8K = re.compile(r"####\s*([^\n]+)")
_ANSWER_PHRASE = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*:|answer\s*:)\s*:?\s*([^\n]*)", re.IGNORECASE
)
_LATEX_FRAC = re.compile(r"-?\\[dt]?frac\s*\{\s*-?\d+\s*\}\s*\{\s*-?\d+\s*\}|-?\\[dt]?frac\s*\d\s*\d")
# Thousands groups are matched before plain digit runs so "1,234" stays one number, while "3, 4" stays two.
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+(?:\.\d+)?)?")
_INLINE_MATH = re.compile(r"\$([^$]+)\$|\\\((.+?)\\\)")
_TEXT_UNITS = re.compile(r"\\(?:text|mathrm|mbox)\s*\{[^{}]*\}")


def extract_answer(text: str) -> str | None:
    """The final answer in `text` as a short string (`"7"`, `"-3"`, `"1/2"`, `"\\frac{1}{2}"`), or None.

    Precedence follows how explicit the model was: the last non-empty `\\boxed{}`, then a GSM8K `#### X`
    line, then the last "the answer is X" / "Answer: X", else the last number anywhere. An empty box or a
    phrase with nothing numeric after it falls through to the next rule rather than ending the search.
    """
    text = text.replace("\u2212", "-")  # Unicode minus, common in model output copied from web text
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    gsm8k = _GSM8K.findall(text)
    if gsm8k:
        found = _first_math(gsm8k[-1])
        if found is not None:
            return found
    for phrase in reversed(_ANSWER_PHRASE.findall(text)):
        found = _first_math(phrase)
        if found is not None:
            return found
    return _last_number(text)


def verify_math(completion: str, reference: str) -> Verdict:
    """1.0 if the completion's final answer equals `reference`, 0.0 if not, None if the reference is unusable.

    A completion with no extractable answer, or one that cannot be parsed, is wrong (0.0), not undecided: the
    model had its chance to answer. Only a reference we cannot read leaves the row undecided.
    """
    ref = _clean(reference)
    ref_symbolic = _symbolic(ref)
    ref_plain = _plain_number(ref)
    if ref_symbolic is None and ref_plain is None:
        return Verdict(None, f"reference {reference!r} could not be parsed")

    answer = extract_answer(completion)
    if answer is None:
        return Verdict(0.0, "no answer found")

    answer_symbolic = _symbolic(answer)
    if ref_symbolic is not None and answer_symbolic is not None:
        equal = verify(ref_symbolic, answer_symbolic, timeout_seconds=_timeout())
        return _verdict(equal, answer, ref, "")

    answer_plain = _plain_number(answer)
    if ref_plain is not None and answer_plain is not None:
        return _verdict(_numbers_equal(answer_plain, ref_plain), answer, ref, " (plain-number comparison)")
    return Verdict(0.0, f"extracted {answer}, expected {ref}: answer could not be parsed")


def verify_math_rows(completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    """The registry's batch entry point: each row's `answer` column is the reference."""
    return [verify_math(text, str(row["answer"])) for text, row in zip(completions, rows, strict=True)]


def _verdict(equal: bool, answer: str, ref: str, how: str) -> Verdict:
    outcome = "equal" if equal else "not equal"
    return Verdict(1.0 if equal else 0.0, f"extracted {answer}, expected {ref}: {outcome}{how}")


def _timeout() -> int | None:
    return _TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


def _symbolic(answer: str) -> list | None:
    """math-verify's parse of a bare answer, or None when it yields no sympy object (only raw strings)."""
    if not answer or len(answer) > _MAX_SYMBOLIC_CHARS:
        return None
    # Wrapping in \boxed makes math-verify read the whole string as one LaTeX answer, which also covers
    # plain forms ("1/2", "-3", "0.5") and bare \frac12 / \dfrac that its plain-expression reader skips.
    parsed = parse(f"\\boxed{{{answer}}}", parsing_timeout=_timeout())
    if not any(isinstance(p, Basic | MatrixBase) for p in parsed):
        return None
    return parsed


def _plain_number(answer: str) -> Fraction | None:
    s = answer.replace(" ", "")
    frac = re.fullmatch(r"(-?)\\[dt]?frac\{?(-?\d+)\}?\{?(-?\d+)\}?", s)
    if frac is not None:
        sign, num, den = frac.groups()
        s = f"{sign}{num}/{den}"
    try:
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def _numbers_equal(a: Fraction, b: Fraction) -> bool:
    # Exact for integers and fractions; the tolerance only matters for decimals that round a repeating value.
    return a == b or math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _last_boxed(text: str) -> str | None:
    """Content of the last non-empty \\boxed{...} / \\fbox{...}, matching nested braces."""
    found: list[tuple[int, str]] = []
    for opener in _BOX_OPENERS:
        start = text.find(opener)
        while start != -1:
            content, end = _braced(text, start + len(opener))
            cleaned = _clean(content) if content is not None else ""
            if cleaned:
                found.append((start, cleaned))
            start = text.find(opener, end)
    return max(found)[1] if found else None


def _braced(text: str, i: int) -> tuple[str | None, int]:
    """The text up to the brace closing the one just before index `i`, and the index after it."""
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j], j + 1
    return None, len(text)  # unclosed: a completion cut off by max_new_tokens


def _first_math(segment: str) -> str | None:
    """The first answer-like thing after "the answer is": a box, inline math, a LaTeX fraction, a number."""
    # Only the sentence the phrase opens: "The answer is \\boxed{}. 7 + 5 = 12" named no answer.
    segment = re.split(r"\.(?:\s|$)", segment, maxsplit=1)[0]
    boxed = _last_boxed(segment)
    if boxed is not None:
        return boxed
    inline = _INLINE_MATH.search(segment)
    if inline is not None:
        inner = _clean(inline.group(1) or inline.group(2))
        if inner and re.search(r"\d", inner):
            return inner
    frac = _LATEX_FRAC.search(segment)
    number = _signed_numbers(segment)
    if frac is not None and (not number or frac.start() <= number[0][0]):
        return frac.group(0).replace(" ", "")
    return number[0][1] if number else None


def _last_number(text: str) -> str | None:
    frac = list(_LATEX_FRAC.finditer(text))
    numbers = _signed_numbers(text)
    # A fraction's own digits are numbers too; the fraction wins when the last number lies inside it.
    if frac and (not numbers or frac[-1].end() > numbers[-1][0]):
        return frac[-1].group(0).replace(" ", "")
    return numbers[-1][1] if numbers else None


def _signed_numbers(text: str) -> list[tuple[int, str]]:
    """(position, number) for every number, thousands separators dropped.

    A minus right after a digit or a closing bracket is subtraction ("9 - 4"), so it is not the number's sign.
    """
    out = []
    for m in _NUMBER.finditer(text):
        number, start = m.group(0), m.start()
        if number.startswith("-") and text[:start].rstrip()[-1:] in set("0123456789)]}"):
            number, start = number[1:], start + 1
        out.append((start, number.replace(",", "")))
    return out


def _clean(answer: str) -> str:
    """Drop presentation, keep value: $, units in \\text{}, \\%, thousands separators, a final period."""
    s = answer.strip().replace("\u2212", "-")
    s = _TEXT_UNITS.sub("", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "").replace("\\!", "")
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)
    return s.strip().rstrip(".").strip()
