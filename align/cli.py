"""The `align` command: run, validate, stages, and the sandbox / reward sub-tools."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from align import __version__
from align.artifacts.contract import policy_stages
from align.models.export import DTYPES
from align.runtime import distributed
from align.runtime.console import console, error_line, log_to_file, setup_logging
from align.runtime.errors import AlignError
from reward import OneLineParser, report_usage_errors

log = logging.getLogger("align")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="align", description=__doc__)
    parser.add_argument("--version", action="version", version=f"align {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = sub.add_parser("run", help="run a recipe's stages, skipping those already done")
    run.add_argument("recipe", type=Path)
    run.add_argument("--stages", help="comma-separated stage names to run (the others must be done already)")
    run.add_argument("--until", help="run up to and including this stage")
    run.add_argument("--run-dir", type=Path, help="artifact folder (default: runs/<recipe name>)")
    run.add_argument("--force", action="store_true", help="start stages the memory estimate says will not fit the GPU")
    run.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="run as N processes on this machine (accelerate launch: one rank per GPU, or gloo on CPU)",
    )
    _add_overrides(run)
    run.add_argument("-v", "--verbose", action="store_true")

    validate = sub.add_parser("validate", help="check a recipe without loading any model")
    validate.add_argument("recipe", type=Path)
    _add_overrides(validate)

    presets = sub.add_parser("presets", help="list model presets and the GPU memory each stage needs")
    presets.add_argument("name", nargs="?", help="show one preset's settings")

    export = sub.add_parser("export", help="merge a stage's adapter into its base model (align export RUN/STAGE)")
    export.add_argument("stage_dir", type=Path, help="a finished sft/dpo/grpo stage folder, e.g. runs/math/dpo")
    export.add_argument("--out", type=Path, required=True, help="new folder for the merged model")
    export.add_argument("--dtype", choices=DTYPES, default="auto", help="auto = the base's")
    export.add_argument("--push-to-hub", metavar="NAME", help="also upload the folder to this hub repository")

    stages = sub.add_parser("stages", help="list stage kinds and their fields")
    stages.add_argument("kind", nargs="?", help="show one kind only")

    # These forward their own arguments to the tools that own them.
    sub.add_parser("sandbox", help="run a program in the sandbox (align sandbox run FILE)", add_help=False)
    sub.add_parser("reward", help="score completions with a reward model (align reward score ...)", add_help=False)
    sub.add_parser("eval", help="evaluate a run, a stage artifact or a model (align eval TARGET ...)", add_help=False)
    sub.add_parser("report", help="write <run>/report.md with plots and tables (align report RUN_DIR)", add_help=False)
    sub.add_parser("data", help="convert public rated sets to reward rows (align data convert ...)", add_help=False)
    return parser


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", help="apply a model preset (align presets lists them), e.g. qwen2.5-7b")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe key, e.g. --set stages.sft.learning_rate=1e-4 or --set model=Qwen/Qwen2.5-7B-Instruct",
    )


def main(argv: list[str] | None = None) -> int:
    """Bad arguments and bad input (`AlignError`) end in one `error:` line and exit status 2."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in FORWARDED:
        return _forward(argv[0], argv[1:])
    try:
        return report_usage_errors(lambda: _dispatch(build_parser().parse_args(argv), argv), AlignError)
    except KeyboardInterrupt:
        error_line("interrupted; re-run the same command to resume from the last checkpoint")
        return 130


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    # Ranks other than the main one say only what goes wrong: the main process speaks for the run.
    setup_logging(getattr(args, "verbose", False), quiet=not distributed.is_main())
    if args.command == "run":
        return cmd_run(args, argv)
    if args.command == "validate":
        return cmd_validate(args)
    if args.command == "presets":
        return cmd_presets(args)
    if args.command == "export":
        return cmd_export(args)
    return cmd_stages(args)


# Sub-tools that parse their own arguments: command -> module with `main(argv) -> int`.
FORWARDED = {
    "sandbox": "reward.sandbox.cli",
    "reward": "reward.model.cli",
    "eval": "align.evaluation.cli",
    "report": "align.report.cli",
    "data": "reward.convert",
}


def _forward(tool: str, argv: list[str]) -> int:
    import importlib

    code: int = importlib.import_module(FORWARDED[tool]).main(argv)
    return code


def cmd_validate(args: argparse.Namespace) -> int:
    from align.config.load import load_recipe
    from align.data.checks import check_prompt_columns
    from align.memory.check import describe_offline

    recipe = load_recipe(args.recipe, args.overrides, args.preset)
    check_prompt_columns(recipe)
    console.print(
        f"{args.recipe}: ok — recipe '{recipe.name}', model {recipe.model}, stages: "
        + " → ".join(f"{s.name} ({s.kind})" for s in recipe.stages)
    )
    for row in describe_offline(recipe) or []:
        line = f"  {row.name}: ~{row.estimate.gib():.1f} GiB on one GPU in bf16 ({row.estimate.describe()})"
        if row.fits:
            console.print(line, soft_wrap=True)
            continue
        verdict = (
            "any one of these fits:" if row.fixes else "no single change fits; combine them or pick a smaller preset"
        )
        console.print(f"{line} — more than an 80 GB GPU holds (1 GiB kept free); {verdict}", soft_wrap=True)
        for fix in row.fixes:
            console.print(f"      --set {fix.override:<44} ~{fix.estimate.gib():.1f} GiB", soft_wrap=True)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from align.config.presets import PRESETS, get_preset
    from align.memory.presets import preset_memory

    if args.name:
        preset = get_preset(args.name)
        console.print(
            f"{preset.name}: model {preset.model}, lora {preset.lora}, vllm {preset.vllm or 'not used'}", soft_wrap=True
        )
        for kind, values in preset.stages.items():
            console.print(f"  {kind}: {values}", soft_wrap=True)
        return 0
    console.print("GPU memory each stage needs (estimate, bf16, HF sampling, 512-token prompts; GiB):", soft_wrap=True)
    console.print(f"{'preset':<20} {'params':>7} {'sft':>6} {'pairs':>6} {'dpo':>6} {'grpo':>6}  model", soft_wrap=True)
    for preset in PRESETS.values():
        need = {k: v / 2**30 for k, v in preset_memory(preset).items()}
        quantized = " (4-bit)" if preset.lora.get("quantize") else ""
        console.print(
            f"{preset.name:<20} {preset.shape.params() / 1e9:>6.1f}B {need['sft']:>6.1f} {need['pairs']:>6.1f} "
            f"{need['dpo']:>6.1f} {need['grpo']:>6.1f}  {preset.model}{quantized}",
            soft_wrap=True,
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from align.models.export import export

    out = export(args.stage_dir, args.out, dtype=args.dtype, push_to_hub=args.push_to_hub)
    console.print(f"merged model: {out}")
    return 0


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from align.config.load import load_recipe
    from align.data.checks import check_process_count, check_prompt_columns
    from align.report.summary import print_preview, print_summary
    from align.runner import plan, prepare_run_dir, run_recipe

    relaunching = args.nproc is not None and not distributed.launched()
    if relaunching and args.nproc < 1:
        raise AlignError(f"--nproc: expected a number of processes ≥ 1, got {args.nproc}")
    recipe = load_recipe(args.recipe, args.overrides, args.preset)
    only = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else None
    plan(recipe, only, args.until)  # a misspelt stage name fails before the run folder is created
    check_prompt_columns(recipe)
    check_process_count(recipe, args.nproc if relaunching else distributed.world_size())
    if relaunching:  # checked above once, in this process, rather than once per rank
        from align.runtime.launch import relaunch

        return relaunch(args.nproc, argv)
    if mismatch := distributed.engine_mismatch():
        raise AlignError(mismatch)
    run_dir = (args.run_dir or Path("runs") / recipe.name).resolve()
    prepare_run_dir(run_dir)
    main_process = distributed.is_main()
    if main_process:
        log_to_file(run_dir / "align.log")
    log.info("recipe %s (%s) → %s", recipe.name, args.recipe, run_dir)
    outcomes = run_recipe(recipe, run_dir, only=only, until=args.until, force=args.force)
    if main_process:
        print_summary(recipe, run_dir, outcomes)
        if recipe.preview:
            print_preview(recipe, outcomes)
    if recipe.eval and not policy_stages(run_dir):
        # --stages or --until stopped before any policy stage (say, a reward stage alone): nothing to evaluate yet.
        log.info("evaluation skipped: no finished sft, dpo or grpo stage in %s yet", run_dir)
    elif recipe.eval:  # every rank evaluates its shard of the prompts
        from align.evaluation import evaluate

        spec = recipe.eval
        evaluate(
            run_dir,
            spec.suites,
            spec.samples,
            spec.limit,
            max_new_tokens=spec.max_new_tokens,
            group_by=spec.group_by,
            math_data=spec.math_data,
            code_data=spec.code_data,
            tools=spec.tools,
            max_turns=spec.max_turns,
        )
    if main_process:
        from align.report import build_report

        console.print(f"report: {build_report(run_dir)}")
    distributed.finish()
    return 0


def cmd_stages(args: argparse.Namespace) -> int:
    from align.report.summary import print_stage_kinds

    return print_stage_kinds(args.kind)


if __name__ == "__main__":
    sys.exit(main())
