"""`align report RUN_DIR`: write <run>/report.md with loss and reward curves, evaluation tables, pair
statistics and sample completions. A folder that is not a run folder prints one line and returns 2."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from align.runtime.console import console
from align.runtime.errors import AlignError
from reward import OneLineParser, report_usage_errors


def main(argv: Sequence[str] | None = None) -> int:
    return report_usage_errors(lambda: _run(sys.argv[1:] if argv is None else list(argv)), AlignError)


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="align report", description=__doc__)
    parser.add_argument("run_dir", type=Path, help="a run folder (runs/<name>)")
    return parser


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from align.report.build import build_report

    console.print(f"report: {build_report(args.run_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
