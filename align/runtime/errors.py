"""User-facing errors: one line, naming the key, row or file, and exit status 2.

Anything raised as `AlignError` is printed by the CLI as `error: <message>` without a traceback. Everything
else is a bug in align and keeps its traceback.
"""

from __future__ import annotations

EXIT_USER_ERROR = 2


class AlignError(Exception):
    """A problem with the user's input (recipe, data, model path, ...), reported in one line."""


def first_line(err: BaseException) -> str:
    """The first line of a library's exception text, for embedding in a one-line error."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
