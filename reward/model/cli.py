"""`align reward score`: score a JSONL file of (prompt, completion) rows with a saved reward model.

    python -m reward.model score --model ARTIFACT FILE.jsonl [--out OUT.jsonl] [--weights truthfulness=2,...]

Writes one JSON line per input row, in order: the six dimension scores and `total`, their weighted sum.
Every weight defaults to 1; `--weights` overrides the named ones (`conciseness=0` drops one).
Bad input (a missing file, an invalid JSON line, a row without `prompt` or `completion`, a folder that is
not a reward model, an unknown dimension in --weights) prints one line on stderr and returns 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from reward.aggregate import aggregate, check_weights
from reward.usage import OneLineParser, UsageError, report_usage_errors


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="align reward", description="Six-dimension reward model tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    score = commands.add_parser("score", help="score (prompt, completion) rows with a saved reward model")
    score.add_argument("--model", required=True, type=Path, help="folder a reward stage saved the model to")
    score.add_argument("file", type=Path, help="JSONL rows with 'prompt' and 'completion' strings")
    score.add_argument("--out", type=Path, help="write here instead of stdout")
    score.add_argument("--weights", default="", help="dim=weight,... (others keep weight 1)")
    score.add_argument("--batch-size", type=int, default=16, help="rows per forward pass")
    return parser


def read_rows(path: Path) -> list[dict[str, str]]:
    from reward.jsonl import JsonlError, read_jsonl

    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        rows = read_jsonl(path)
    except JsonlError as err:
        raise UsageError(str(err)) from None
    for number, row in enumerate(rows, start=1):
        for key in ("prompt", "completion"):
            if not isinstance(row.get(key), str):
                raise UsageError(f"{path} row {number}: missing string key {key!r}")
    return rows


def parse_weights(text: str, dimensions: Sequence[str]) -> dict[str, float]:
    weights = dict.fromkeys(dimensions, 1.0)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in weights:
            known = ", ".join(dimensions)
            raise UsageError(f"--weights: {item!r} is not dimension=weight with one of {known}")
        try:
            weights[name.strip()] = float(value)
        except ValueError as err:
            raise UsageError(f"--weights: {value!r} for {name.strip()!r} is not a number") from err
    return weights


def score(args: argparse.Namespace) -> int:
    # Everything the user can get wrong is checked before torch and the model load (seconds, not ms).
    rows = read_rows(args.file)
    from reward.model.artifact import NotARewardModelError, RewardConfig

    try:
        config = RewardConfig.read(args.model)
    except NotARewardModelError as err:
        raise UsageError(str(err)) from err
    try:
        weights = parse_weights(args.weights, config.dimensions)
        check_weights(weights)
    except ValueError as err:
        raise UsageError(f"--weights: {err}") from err

    from transformers.utils import logging as transformers_logging

    from reward.model.score import RewardModel

    transformers_logging.disable_progress_bar()  # stderr is for the one-line errors
    model = RewardModel.load(args.model)
    prompts, completions = [r["prompt"] for r in rows], [r["completion"] for r in rows]
    scores = model.score(prompts, completions, batch_size=args.batch_size)
    totals = aggregate({d: [s[d] for s in scores] for d in model.dimensions}, weights).totals
    lines = [json.dumps({**s, "total": t}) + "\n" for s, t in zip(scores, totals, strict=True)]
    if args.out is None:
        sys.stdout.writelines(lines)
    else:
        try:
            args.out.write_text("".join(lines))
        except OSError as err:
            raise UsageError(f"{args.out}: cannot write ({err.strerror})") from err
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return report_usage_errors(lambda: score(_parser().parse_args(argv)))
