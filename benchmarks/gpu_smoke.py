"""GPU smoke test: every align stage, through align's own runner, on a Qwen2.5-shaped random model, on CUDA in bf16.

    python benchmarks/gpu_smoke.py                 # CUDA: LoRA chain, then QLoRA (bitsandbytes NF4) chain
    python benchmarks/gpu_smoke.py --quick         # CPU, tiny shape, fp32; QLoRA rows report why they are skipped
    python benchmarks/gpu_smoke.py --time-limit 170 --shape qwen2.5-0.5b --out /tmp/smoke

Two recipes run stage by stage through `align.runner.run_recipe`: `lora` (sft → pairs with the math verifier →
dpo → reward with the policy as backbone and the likelihood scorer → grpo with verifier, head and likelihood
rewards) and `qlora` (the same chain with `lora.quantize: 4bit`, without the reward stage). Each stage runs a few
steps. Before each, the peak-memory counter is reset; after it, the measured peak is printed beside
align.memory's estimate for that stage. The table of what finished is printed at the end — also when a stage
fails (its row says why, dependants are skipped) and when the time limit strikes (a watchdog prints the table
and exits 3). Results also go to <out>/smoke.json.

The model needs no download: benchmarks/random_qwen.py builds it and a small BPE tokenizer, with its head
steered so that samples answer "1" or "2" evenly — pair building finds pairs and GRPO groups have variance.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GIB = 1 << 30
# Expected upper bound of one stage's wall time on an H100 (model load included), used to skip a stage that
# cannot finish before the time limit instead of starting it.
STAGE_BUDGET_S = {"sft": 20, "pairs": 20, "dpo": 20, "reward": 30, "grpo": 40}


@dataclass
class Row:
    recipe: str
    stage: str
    status: str = "pending"
    seconds: float | None = None
    peak_gib: float | None = None
    estimate_gib: float | None = None
    detail: str = ""


class Table:
    def __init__(self, out: Path):
        self.rows: list[Row] = []
        self.out = out
        self.lock = threading.Lock()

    def add(self, row: Row) -> Row:
        with self.lock:
            self.rows.append(row)
        return row

    def render(self) -> str:
        head = ("recipe", "stage", "status", "time s", "peak GiB", "est GiB", "est/peak")
        lines = ["{:<7} {:<7} {:<9} {:>7} {:>9} {:>8} {:>8}  detail".format(*head)]
        for r in self.rows:
            ratio = f"{r.estimate_gib / r.peak_gib:.2f}" if r.peak_gib and r.estimate_gib else "-"
            lines.append(
                f"{r.recipe:<7} {r.stage:<7} {r.status:<9} {_fmt(r.seconds, 1):>7} {_fmt(r.peak_gib, 2):>9} "
                f"{_fmt(r.estimate_gib, 2):>8} {ratio:>8}  {r.detail}"
            )
        return "\n".join(lines)

    def dump(self, extra: dict) -> None:
        with self.lock:
            payload = {**extra, "rows": [asdict(r) for r in self.rows]}
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "smoke.json").write_text(json.dumps(payload, indent=2))


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def write_data(folder: Path, rows: int, answer_tokens: int) -> dict[str, str]:
    """SFT rows whose answers are `answer_tokens` tokens long (so SFT fills max_length, as the estimate assumes),
    and math prompts answered 1 or 2. The reward stage reads the shipped data/reward files."""
    folder.mkdir(parents=True, exist_ok=True)
    sft = [
        {"prompt": f"What is {i % 2} + 1? Answer with one number.", "completion": " 2 1" * (answer_tokens // 2)}
        for i in range(rows)
    ]
    prompts = [
        {
            "prompt": [{"role": "user", "content": f"What is {i % 2} + 1? Answer with one number."}],
            "answer": str(i % 2 + 1),
        }
        for i in range(rows)
    ]
    paths = {"sft": folder / "sft.jsonl", "prompts": folder / "prompts.jsonl"}
    for name, data in (("sft", sft), ("prompts", prompts)):
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in data))
    return {k: str(v) for k, v in paths.items()}


def recipe_dict(name: str, model: str, data: dict[str, str], quick: bool, quantize: bool, prompt: int) -> dict:
    """`prompt`: the longest prompt in tokens; DPO's max_length is prompt + answer, what its pairs hold."""
    long, answer = sft_length(quick), 16 if quick else 32
    common = {"max_steps": 2 if quick else 3, "logging_steps": 1, "report_to": [], "save_steps": 1000}
    stages: list[dict] = [
        {"name": "sft", "kind": "sft", "data": data["sft"], "batch_size": 2, "max_length": long, **common},
        {
            "name": "pairs", "kind": "pairs", "init": "sft", "verifier": "math", "backend": "hf",
            "prompts": {"path": data["prompts"], "limit": 8 if quick else 16}, "k": 4, "temperature": 1.0,
            "max_new_tokens": answer,
        },
        {
            "name": "dpo", "kind": "dpo", "init": "sft", "pairs": "pairs", "batch_size": 2,
            "max_length": prompt + answer + 2, **common,
        },
    ]  # fmt: skip
    rewards: dict = {"correctness": {"source": "verifier"}}
    if not quantize:
        stages.append(
            {
                "name": "reward", "kind": "reward", "backbone": "policy", "likelihood": ["truthfulness"],
                "data": {"path": str(ROOT / "data/reward/train.jsonl"), "limit": 64},
                "eval_data": {"path": str(ROOT / "data/reward/eval.jsonl"), "limit": 32},
                "batch_size": 4, "max_length": 128, **common,
            }
        )  # fmt: skip
        rewards |= {
            "helpfulness": {"source": "model", "weight": 0.1},
            "truthfulness": {"source": "model", "weight": 0.1},
        }
    stages.append(
        {
            "name": "grpo", "kind": "grpo", "init": "dpo", "verifier": "math", "backend": "hf",
            "reward": None if quantize else "reward", "rewards": rewards,
            "prompts": {"path": data["prompts"], "limit": 16},
            "prompt_selection": {"candidates": 8, "num_generations": 4, "keep": 4},
            "num_generations": 4, "prompts_per_step": 2, "max_completion_length": answer,
            "learning_rate": 1e-5, **common,
        }
    )  # fmt: skip
    lora = {"r": 16, "alpha": 32, "dropout": 0.05} | ({"quantize": "4bit"} if quantize else {})
    return {"name": name, "model": model, "lora": lora, "stages": stages}


def sft_length(quick: bool) -> int:
    return 128 if quick else 2048


def prompt_tokens(model: str, data: dict[str, str]) -> int:
    from align.models.load import load_tokenizer

    tokenizer = load_tokenizer(model)
    rows = [json.loads(line) for line in Path(data["prompts"]).read_text().splitlines()]
    rendered = [tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, return_dict=False) for r in rows]
    return max(map(len, rendered))


def run_chain(name: str, spec: dict, run_dir: Path, table: Table, settings, shape, deadline: float, cuda: bool):
    import torch

    from align.config.schema import Recipe
    from align.memory.stages import estimate_stage
    from align.runner import run_recipe
    from align.runtime.errors import AlignError

    recipe = Recipe.model_validate(spec)
    # The reward backbone is the policy without its LM head: the same shape with the head counted once.
    reward_shape = replace(shape, tied_embeddings=True)
    failed: str | None = None
    for stage in recipe.stages:
        row = table.add(Row(name, stage.name))
        estimate = estimate_stage(recipe, stage, shape, settings, reward_shape=reward_shape)
        row.estimate_gib = estimate.gib()
        row.detail = estimate.describe()
        if failed:
            row.status, row.detail = "skipped", f"needs {failed}"
            continue
        if time.monotonic() + STAGE_BUDGET_S[stage.kind] > deadline:
            row.status, row.detail = "skipped", "time limit"
            failed = f"{stage.name} (time limit)"
            continue
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        started = time.monotonic()
        row.status = "running"
        try:
            outcomes = run_recipe(recipe, run_dir, only=[stage.name])
            outcome = next(o for o in outcomes if o.name == stage.name)
        except (AlignError, Exception) as err:
            row.status, row.seconds = "FAILED", time.monotonic() - started
            row.detail = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"[:200]
            failed = stage.name
            continue
        row.seconds = time.monotonic() - started
        row.status = "ok"
        if cuda:
            row.peak_gib = torch.cuda.max_memory_allocated() / GIB
        row.detail = f"{_metrics(stage.kind, outcome.metrics)} | est: {row.detail}"
        print(f"[smoke] {name}/{stage.name}: ok in {row.seconds:.1f}s, peak {_fmt(row.peak_gib, 2)} GiB, "
              f"estimate {row.estimate_gib:.2f} GiB", flush=True)  # fmt: skip


def _metrics(kind: str, metrics: dict) -> str:
    keys = {
        "sft": ("steps", "loss_first", "loss_last"),
        "pairs": ("samples", "pass_rate", "pairs"),
        "dpo": ("steps", "pairs", "loss_last"),
        "reward": ("train/steps", "accuracy/mean", "likelihood/scale"),
        "grpo": ("steps", "prompts_trained", "correctness_second_half"),
    }[kind]
    return ", ".join(
        f"{k}={metrics[k]:.3g}" if isinstance(metrics.get(k), float) else f"{k}={metrics.get(k)}" for k in keys
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CPU, tiny shape, fp32 (what CI can run)")
    parser.add_argument("--shape", default=None, help="model shape (default: qwen2.5-0.5b on GPU, tiny with --quick)")
    parser.add_argument("--time-limit", type=float, default=170.0, help="seconds for the whole run (default 170)")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-smoke"), help="work and result folder")
    parser.add_argument("--skip-qlora", action="store_true")
    args = parser.parse_args(argv)

    started = time.monotonic()
    deadline = started + args.time_limit
    import torch

    cuda = torch.cuda.is_available() and not args.quick
    if not cuda and not args.quick:
        print("error: no CUDA device visible; use --quick for the CPU run", file=sys.stderr)
        return 2
    import random_qwen

    from align.memory.shape import ModelShape
    from align.memory.stages import Settings
    from align.models.quantize import require_4bit
    from align.runtime.devices import current_placement

    shape_name = args.shape or ("tiny" if args.quick else "qwen2.5-0.5b")
    table = Table(args.out)
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    info = {"device": device, "shape": shape_name, "torch": torch.__version__, "time_limit_s": args.time_limit}
    print(f"[smoke] device {device}, shape {shape_name}, time limit {args.time_limit:.0f}s", flush=True)

    def finish(why: str = "") -> None:
        info["wall_s"] = round(time.monotonic() - started, 1)
        info["exit"] = why or "done"
        print("\n" + table.render(), flush=True)
        print(f"[smoke] {why or 'done'} in {info['wall_s']}s on {device}", flush=True)
        table.dump(info)

    def watchdog() -> None:
        finish(f"time limit of {args.time_limit:.0f}s reached; rows not ok did not finish")
        os._exit(3)

    timer = threading.Timer(args.time_limit + 5, watchdog)
    timer.daemon = True
    timer.start()

    t0 = time.monotonic()
    model = random_qwen.build(
        args.out / f"model-{shape_name}", shape_name, dtype="bf16" if cuda else "fp32", device="cuda" if cuda else "cpu"
    )
    print(f"[smoke] model ready in {time.monotonic() - t0:.1f}s: {model}", flush=True)
    from transformers import AutoConfig

    shape = ModelShape.from_config(AutoConfig.from_pretrained(model))
    info["params"] = shape.params()
    data = write_data(args.out / "data", 32, answer_tokens=sft_length(args.quick) - 40)
    placement = current_placement()
    settings = Settings(
        precision=placement.precision,
        on_gpu=cuda,
        device_bytes=torch.cuda.get_device_properties(0).total_memory if cuda else 0,
        prompt_tokens=prompt_tokens(str(model), data),
    )
    info["placement"] = asdict(placement)

    chains = [("lora", False), ("qlora", True)]
    for name, quantize in chains:
        if quantize and args.skip_qlora:
            continue
        if quantize:
            try:
                require_4bit(torch.cuda.device_count() if cuda else 0)
            except Exception as err:
                table.add(Row(name, "all", "skipped", detail=str(err)))
                continue
        spec = recipe_dict(name, str(model), data, args.quick, quantize, settings.prompt_tokens)
        run_dir = args.out / "runs" / name
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)  # every smoke run trains from scratch
        run_chain(name, spec, run_dir, table, settings, shape, deadline, cuda)

    timer.cancel()
    failed = any(r.status == "FAILED" for r in table.rows)
    finish("some stages FAILED" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
