"""`align eval TARGET`: evaluate a run folder (base model and every adapter stage), one stage's artifact, or a
model (builtin name, local folder, hub name).

    align eval runs/math --suite math,code --samples 8 --limit 100
    align eval runs/math/sft --out sft-eval.json
    align eval Qwen/Qwen2.5-7B-Instruct --suite math --math-data openai/gsm8k --out qwen-gsm8k.json

Bad input (a missing target, an unknown suite, a folder that is not a reward model) prints one line on
stderr and returns 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from align.evaluation.settings import GROUP_BY, SUITE_NAMES
from align.runtime.console import setup_logging
from align.runtime.errors import AlignError
from reward import OneLineParser, UsageError, report_usage_errors


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="align eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="run folder, stage artifact folder, or model (builtin / folder / hub name)")
    parser.add_argument("--suite", default="math", help=f"comma-separated suites: {','.join(SUITE_NAMES)}")
    parser.add_argument("--samples", type=int, default=1, help="k > 1 also samples k answers at T=0.8 for pass@k")
    parser.add_argument("--limit", type=int, help="evaluate on the first N prompts of each suite")
    parser.add_argument("--out", type=Path, help="results JSON (default for a run folder: <run>/eval.json)")
    parser.add_argument("--reward", type=Path, help="reward model folder for the chat suite")
    parser.add_argument("--judge", help="chat suite: an LLM judge (model name, folder or endpoint URL) instead")
    parser.add_argument("--math-data", help="math prompts: a file with prompt/answer, or a hub set (openai/gsm8k)")
    parser.add_argument("--chat-data", help="chat prompts: a file with a prompt column")
    parser.add_argument(
        "--code-data", help="code problems: a file with prompt/tests (default data/code/eval.jsonl), or humaneval:eval"
    )
    parser.add_argument(
        "--ifeval-data",
        help="ifeval constraints: a file in google/IFEval's row format (prompt, instruction_id_list, kwargs), or a "
        "hub set (google/IFEval, allenai/IFBench_test)",
    )
    parser.add_argument("--max-new-tokens", type=int, help="tokens per answer (default: each suite's own)")
    parser.add_argument("--backend", choices=("auto", "hf", "vllm"), default="auto", help="sampling backend")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--group-by",
        default=",".join(GROUP_BY),
        help="comma-separated row columns each suite is broken down by, where its rows carry them ('' for none)",
    )
    parser.add_argument(
        "--tools", default="", help="comma-separated tools (python, module:function, module:Class): answer in episodes"
    )
    parser.add_argument("--max-turns", type=int, default=4, help="assistant turns per episode with --tools")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return report_usage_errors(lambda: _run(sys.argv[1:] if argv is None else list(argv)), AlignError)


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    suites = [s.strip() for s in args.suite.split(",") if s.strip()]
    unknown = [s for s in suites if s not in SUITE_NAMES]
    if unknown or not suites:
        names = ", ".join(unknown) or "(none)"
        raise UsageError(f"--suite: unknown suite {names} (one of: {', '.join(SUITE_NAMES)})")
    setup_logging(args.verbose)
    from align.evaluation.evaluator import evaluate

    evaluate(
        args.target,
        suites,
        args.samples,
        args.limit,
        out=args.out,
        reward=args.reward,
        judge=args.judge,
        math_data=args.math_data,
        chat_data=args.chat_data,
        code_data=args.code_data,
        ifeval_data=args.ifeval_data,
        max_new_tokens=args.max_new_tokens,
        backend=args.backend,
        seed=args.seed,
        group_by=[c.strip() for c in args.group_by.split(",") if c.strip()],
        tools=[t.strip() for t in args.tools.split(",") if t.strip()],
        max_turns=args.max_turns,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
