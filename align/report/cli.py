"""`align report RUN_DIR`: write <run>/report.md with loss and reward curves, evaluation tables, pair
statistics and sample completions. A folder that is not a run folder prints one line and returns 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from align.console import console, error_line
from align.errors import EXIT_USER_ERROR, AlignError


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="align report", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="a run folder (runs/<name>)")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        from align.report.build import build_report

        path = build_report(args.run_dir)
    except (_UsageError, AlignError) as err:
        error_line(str(err))
        return EXIT_USER_ERROR
    console.print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
