"""Convert public multi-attribute preference sets into reward-model training rows (`align data convert`).

    align data convert helpsteer2 nvidia/HelpSteer2 --out helpsteer2.jsonl
    align data convert ultrafeedback openbmb/UltraFeedback --out ultrafeedback.jsonl
    align data convert helpsteer2 my_local_copy.jsonl --out rows.jsonl

SOURCE is a hub dataset name (loaded with `datasets.load_dataset`, needs hub access) or a local .jsonl
file. A reward stage trains on the output as it is (`data: helpsteer2.jsonl`), ratings and pairs together; the
output rows are the two shapes `reward.model.train_reward_model` reads:
  {"prompt", "completion", "ratings": {dimension: value in [0, 1]}}   (an absolute rating)
  {"prompt", "chosen", "rejected", "dimension"}                       (a pair that differs on one dimension)

Mapping to align's six dimensions (a dimension a set doesn't rate is left out, never filled in):
- HelpSteer2 (0-4 per response): helpfulness -> helpfulness, correctness -> truthfulness,
  coherence -> relevance (closest of ours: on-point, consistent), verbosity -> conciseness as 4 - verbosity.
  complexity is not mapped. Two responses to the same prompt become a pair per mapped dimension on which
  their ratings differ by at least --margin.
- UltraFeedback (1-5 per completion, "N/A" skipped): truthfulness -> truthfulness, helpfulness ->
  helpfulness, instruction_following -> relevance. honesty (calibrated uncertainty) is not mapped. Every
  two completions of one instruction become a pair per mapped aspect on which they differ by >= --margin.
Neither set rates harmlessness or debiasing; the shipped pairs in data/reward/ cover those.

What is left out is counted and printed: responses with no mapped rating (`unrated`) and two identical
responses to one prompt (`identical`, no preference to learn). `--strict` makes either an error.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reward.jsonl import JsonlError, read_jsonl
from reward.usage import OneLineParser, UsageError, report_usage_errors

HELPSTEER_MAP = {"helpfulness": "helpfulness", "correctness": "truthfulness", "coherence": "relevance"}
HELPSTEER_MAX = 4.0
ULTRAFEEDBACK_MAP = {
    "truthfulness": "truthfulness",
    "helpfulness": "helpfulness",
    "instruction_following": "relevance",
}


def helpsteer_ratings(row: Mapping[str, Any]) -> dict[str, float]:
    """HelpSteer2 attributes on align's dimensions, each scaled to [0, 1]."""
    present = {theirs: ours for theirs, ours in HELPSTEER_MAP.items() if row.get(theirs) is not None}
    ratings = {ours: row[theirs] / HELPSTEER_MAX for theirs, ours in present.items()}
    if row.get("verbosity") is not None:  # more verbose = less concise
        ratings["conciseness"] = (HELPSTEER_MAX - row["verbosity"]) / HELPSTEER_MAX
    return ratings


def pairs_from_ratings(
    prompt: str, rated: Sequence[tuple[str, dict[str, float]]], margin: float, dropped: Counter[str] | None = None
) -> list[dict]:
    """Every two responses to one prompt, per dimension both rate and on which they differ by >= margin."""
    pairs = []
    for (text_a, a), (text_b, b) in itertools.combinations(rated, 2):
        if text_a == text_b:
            if dropped is not None:
                dropped["identical"] += 1
            continue
        for dimension in sorted(a.keys() & b.keys()):
            if abs(a[dimension] - b[dimension]) + 1e-9 >= margin:
                chosen, rejected = (text_a, text_b) if a[dimension] > b[dimension] else (text_b, text_a)
                pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "dimension": dimension})
    return pairs


def convert_helpsteer2(
    rows: Iterable[Mapping[str, Any]], margin: int = 1, dropped: Counter[str] | None = None
) -> list[dict]:
    """Rated rows for every response, then pairs for responses sharing a prompt (margin in 0-4 points)."""
    dropped = Counter() if dropped is None else dropped
    by_prompt: dict[str, list[tuple[str, dict[str, float]]]] = {}
    out = []
    for row in rows:
        ratings = helpsteer_ratings(row)
        if ratings:
            out.append({"prompt": row["prompt"], "completion": row["response"], "ratings": ratings})
            by_prompt.setdefault(row["prompt"], []).append((row["response"], ratings))
        else:
            dropped["unrated"] += 1
    for prompt, rated in by_prompt.items():
        out += pairs_from_ratings(prompt, rated, margin / HELPSTEER_MAX, dropped)
    return out


def _ultrafeedback_rating(annotation: Any) -> float | None:
    # An aspect is {"Rating": "4", "Rationale": ...}; some exports wrap it in a one-element list.
    if isinstance(annotation, list):
        annotation = annotation[0] if annotation else None
    rating = annotation.get("Rating") if isinstance(annotation, Mapping) else None
    if rating is None:
        return None
    try:
        return float(rating)
    except (TypeError, ValueError):  # "N/A"
        return None


def convert_ultrafeedback(
    rows: Iterable[Mapping[str, Any]], margin: int = 1, dropped: Counter[str] | None = None
) -> list[dict]:
    """Pairs per mapped aspect between completions of one instruction (margin in 1-5 points)."""
    dropped = Counter() if dropped is None else dropped
    out = []
    for row in rows:
        rated = []
        for completion in row.get("completions") or []:
            annotations = completion.get("annotations") or {}
            ratings = {}
            for theirs, ours in ULTRAFEEDBACK_MAP.items():
                value = _ultrafeedback_rating(annotations.get(theirs))
                if value is not None:
                    ratings[ours] = (value - 1.0) / 4.0
            if ratings:
                rated.append((completion["response"], ratings))
            else:
                dropped["unrated"] += 1
        out += pairs_from_ratings(row["instruction"], rated, margin / 4.0, dropped)
    return out


def load_rows(source: str, split: str) -> Sequence[Mapping[str, Any]]:
    path = Path(source)
    if path.suffix == ".jsonl":
        if not path.is_file():
            raise UsageError(f"{source}: no such file")
        try:
            return read_jsonl(path)
        except JsonlError as err:
            raise UsageError(str(err)) from None
    from datasets import load_dataset

    try:
        return list(load_dataset(source, split=split))
    except Exception as err:  # offline, unknown name, missing split: all end the same way
        raise UsageError(f"{source}: cannot load hub dataset (split {split!r}): {str(err).splitlines()[0]}") from None


CONVERTERS = {"helpsteer2": convert_helpsteer2, "ultrafeedback": convert_ultrafeedback}
# The keys each set's rows must carry, checked with row numbers before converting.
REQUIRED = {"helpsteer2": ("prompt", "response"), "ultrafeedback": ("instruction", "completions")}


def check_rows(rows: Sequence[Mapping[str, Any]], kind: str, source: str) -> None:
    for number, row in enumerate(rows, start=1):
        missing = [k for k in REQUIRED[kind] if not isinstance(row, Mapping) or row.get(k) is None]
        if missing:
            raise UsageError(f"{source}: row {number}: not a {kind} row (missing {', '.join(missing)})")
        if kind == "ultrafeedback" and not all(isinstance(c, Mapping) and "response" in c for c in row["completions"]):
            raise UsageError(f"{source}: row {number}: every completion needs a 'response'")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="align data", description="Data tools.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    convert = commands.add_parser("convert", help="HelpSteer2 / UltraFeedback -> reward-model rows")
    convert.add_argument("format", choices=sorted(CONVERTERS))
    convert.add_argument("source", help="hub dataset name or local .jsonl file")
    convert.add_argument("--out", type=Path, required=True)
    convert.add_argument("--split", default="train")
    convert.add_argument("--margin", type=int, default=1, help="minimum rating gap, in the set's own points")
    convert.add_argument(
        "--strict", action="store_true", help="unrated responses and identical pairs are errors, not left out"
    )
    return parser


def _convert(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    rows = load_rows(args.source, args.split)
    check_rows(rows, args.format, args.source)
    dropped: Counter[str] = Counter()
    converted = CONVERTERS[args.format](rows, margin=args.margin, dropped=dropped)
    if args.strict and dropped:
        raise UsageError(f"{args.source}: {_dropped_text(dropped)} (--strict)")
    try:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in converted))
    except OSError as err:
        raise UsageError(f"{args.out}: cannot write ({err.strerror})") from None
    rated = sum("ratings" in r for r in converted)
    left_out = f"; left out: {_dropped_text(dropped)}" if dropped else ""
    print(f"{args.out}: {len(converted)} rows ({rated} rated responses, {len(converted) - rated} pairs){left_out}")
    return 0


def _dropped_text(dropped: Counter[str]) -> str:
    words = {"unrated": "responses with no mapped rating", "identical": "pairs of identical responses"}
    return ", ".join(f"{n} {words[kind]}" for kind, n in sorted(dropped.items()))


def main(argv: Sequence[str] | None = None) -> int:
    return report_usage_errors(lambda: _convert(argv))


if __name__ == "__main__":
    raise SystemExit(main())
