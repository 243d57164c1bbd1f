"""`align reward score`: score a JSONL file of (prompt, completion) rows with a saved reward model.

    python -m reward.model score --model ARTIFACT FILE.jsonl [--out OUT.jsonl] [--weights truthfulness=2,...]
    ... score --hub NAME_OR_FOLDER [--outputs helpfulness=0,truthfulness=honesty] FILE.jsonl
    ... score --judge MODEL_OR_FOLDER_OR_URL [--dimensions helpfulness,relevance] FILE.jsonl

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
from dataclasses import dataclass
from pathlib import Path

from reward.aggregate import aggregate, check_weights
from reward.dimensions import DIMENSIONS
from reward.usage import OneLineParser, UsageError, report_usage_errors


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="align reward", description="Six-dimension reward model tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    score = commands.add_parser("score", help="score (prompt, completion) rows with a reward model or a judge")
    which = score.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", type=Path, help="folder a reward stage saved the model to")
    which.add_argument("--hub", help="a sequence-classification reward model: hub name or folder")
    which.add_argument("--judge", help="an LLM judge: a causal LM's hub name or folder, or an http(s) endpoint URL")
    score.add_argument(
        "--outputs", default="", help="--hub: dimension=output,... (output index or label; default: output 0)"
    )
    score.add_argument("--dimensions", default="helpfulness", help="--judge: dimensions to rate, comma-separated")
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
    if args.model is None:
        return score_with_source(args, rows)
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
    write_scores(args.out, scores, totals)
    return 0


@dataclass(frozen=True)
class Spec:
    """A reward spec given on the command line (what a recipe's `rewards.<name>` says)."""

    source: str
    model: str | None = None
    output: int | str | None = None
    url: str | None = None
    rubric: str | None = None
    weight: float = 1.0
    budget: int = 128


def _pairs(text: str, flag: str) -> list[tuple[str, str]]:
    items = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in DIMENSIONS or not value.strip():
            raise UsageError(f"{flag}: {item!r} is not dimension=output with one of {', '.join(DIMENSIONS)}")
        items.append((name.strip(), value.strip()))
    return items


def hub_specs(model: str, outputs: str) -> dict[str, Spec]:
    mapping = _pairs(outputs, "--outputs") or [("helpfulness", "0")]
    return {d: Spec("hub", model=model, output=int(o) if o.isdigit() else o) for d, o in mapping}


def judge_specs(target: str, dimensions: str) -> dict[str, Spec]:
    names = [d.strip() for d in dimensions.split(",") if d.strip()]
    unknown = [d for d in names if d not in DIMENSIONS]
    if unknown or not names:
        raise UsageError(f"--dimensions: {unknown or dimensions!r} not among {', '.join(DIMENSIONS)}")
    if target.startswith(("http://", "https://")):
        return {d: Spec("judge", url=target) for d in names}
    return {d: Spec("judge", model=target) for d in names}


def score_with_source(args: argparse.Namespace, rows: list[dict[str, str]]) -> int:
    """--hub / --judge: the same reward sources GRPO uses, built by `build_rewards` from specs given here."""
    from reward.sources import SourceInputs, build_rewards

    specs = hub_specs(args.hub, args.outputs) if args.hub else judge_specs(args.judge, args.dimensions)
    try:
        weights = parse_weights(args.weights, list(specs))
        check_weights(weights)
    except ValueError as err:
        raise UsageError(f"--weights: {err}") from err
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        rewards = build_rewards(specs, SourceInputs())
    except (ValueError, OSError) as err:  # a bad mapping, or a name that is no model
        raise UsageError(str(err).splitlines()[0]) from None
    prompts, completions = [r["prompt"] for r in rows], [r["completion"] for r in rows]
    by_dimension = {r.name: r.function(prompts, completions) for r in rewards}
    totals = aggregate(by_dimension, weights).totals
    scores = [{d: values[i] for d, values in by_dimension.items()} for i in range(len(rows))]
    write_scores(args.out, scores, totals)
    judges = {id(r.function.judge): r.function.judge for r in rewards if hasattr(r.function, "judge")}
    for judge in judges.values():
        print(f"judge {judge.backend.name}: {judge.unparsed} unreadable replies (scored null)", file=sys.stderr)
    return 0


def write_scores(out: Path | None, scores: Sequence[dict], totals: Sequence[float | None]) -> None:
    lines = [json.dumps({**s, "total": t}) + "\n" for s, t in zip(scores, totals, strict=True)]
    if out is None:
        sys.stdout.writelines(lines)
    else:
        try:
            out.write_text("".join(lines))
        except OSError as err:
            raise UsageError(f"{out}: cannot write ({err.strerror})") from err


def main(argv: Sequence[str] | None = None) -> int:
    return report_usage_errors(lambda: score(build_parser().parse_args(argv)))
