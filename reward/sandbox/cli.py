"""`align sandbox run FILE`: run one file in the sandbox and print the result as one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

from reward.sandbox.limits import Limits
from reward.sandbox.runner import run_program
from reward.usage import OneLineParser, UsageError, report_usage_errors


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="align sandbox", description="Run untrusted Python in the sandbox.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="run FILE and print the result as one JSON object")
    run.add_argument("file", type=Path, help="Python source to run")
    run.add_argument("--harness", type=Path, help="test code appended after FILE, run in the same globals")
    run.add_argument("--timeout", type=float, default=Limits.timeout_s, help="wall-clock seconds")
    run.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="address-space limit in MiB")
    return parser


def main(argv: list[str]) -> int:
    """0 whatever the program did (the outcome is in the JSON); 2 for bad arguments."""
    return report_usage_errors(lambda: _run(argv))


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        limits = Limits(timeout_s=args.timeout, memory_mb=args.memory_mb)
    except ValueError as err:
        raise UsageError(str(err)) from None
    code = _read(args.file)
    harness = None if args.harness is None else _read(args.harness)
    result = run_program(code, harness=harness, limits=limits)
    print(json.dumps(result.to_json()))
    return 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
