"""The one command-line error convention of align and its tools: a bad argument or input prints one line,
`error: <what> (see <prog> --help)`, on stderr and exits with status 2 — never a usage block or a traceback.

It lives in `reward` because both packages' commands use it (`align sandbox` and `align reward` are
`reward`'s own tools) and `reward` never imports `align`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: reported as one `error:` line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise `UsageError` (one line naming the command) instead of printing
    argparse's usage block. Sub-commands: `add_subparsers(parser_class=OneLineParser)`."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def report_usage_errors(run: Callable[[], int], *errors: type[Exception]) -> int:
    """`run()`, with `UsageError` (and the other `errors` given, e.g. align's `AlignError`) printed as one
    `error:` line on stderr and turned into exit status 2."""
    caught: tuple[type[Exception], ...] = (UsageError, *errors)
    try:
        return run()
    except caught as err:
        _end_progress_bars()
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _end_progress_bars() -> None:
    """A stage stopped mid-loop leaves its tqdm bar open, with no newline after it: the error would be glued to
    the bar's end instead of starting its own line."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()
