"""Reading a 1-10 rating out of a judge's free-text reply.

Judges do not follow formats reliably ("Rating: 7", "**8**/10", "I'd give it 6 out of 10.", "7. The answer
is ..."). The parser tries, in order: a number after "rating"/"score", a number over 10 ("8/10", "8 out of 10"),
a number the reply starts with, then the reply's only number. Anything else — no number, two candidate numbers,
a value outside 1-10 — is None: an unreadable verdict is missing, never guessed.
"""

from __future__ import annotations

import re

NUMBER = r"(\d+(?:\.\d+)?)"
LABELLED = re.compile(rf"\b(?:rating|score|grade)\b\s*(?:is|of)?\s*[:=\-]?\s*\**\s*{NUMBER}", re.IGNORECASE)
OVER_TEN = re.compile(rf"{NUMBER}\**\s*(?:/|out of)\s*10(?!\d|\.\d)", re.IGNORECASE)
# A leading number counts only when words or punctuation follow it: "2 + 2 = 4" starts with a 2 that is no rating.
LEADING = re.compile(rf"^[\s*#\"'(\[]*{NUMBER}(?=\**\s*(?:$|[.,;:!)]|\s+[A-Za-z]))")
ANY = re.compile(NUMBER)

LOW, HIGH = 1.0, 10.0


def parse_rating(reply: str) -> float | None:
    """The rating in `reply` (1-10), or None when the reply holds no single readable one."""
    for pattern in (LABELLED, OVER_TEN, LEADING):
        match = pattern.search(reply)
        if match:
            return _in_range(match.group(1))
    numbers = set(ANY.findall(reply))
    return _in_range(numbers.pop()) if len(numbers) == 1 else None


def _in_range(text: str) -> float | None:
    value = float(text)
    return value if LOW <= value <= HIGH else None
