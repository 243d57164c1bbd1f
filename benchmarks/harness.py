"""What every stock-TRL-vs-align benchmark shares: options, time budget, model/tokenizer building, measuring.

The models are randomly initialised from `Qwen2Config` with Qwen2.5's real shapes (speed does not depend on
weight values) and the tokenizer is a small BPE trained here on generated text: no download anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # import align from this checkout; no `pip install -e` needed

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import random_qwen  # noqa: E402
import torch  # noqa: E402

# Qwen2.5 shapes from random_qwen (shared with the GPU smoke), with the embeddings tied as in the released 0.5B
# and 1.5B models; the vocabulary is passed separately (151,936 as in the real models, smaller in --quick).
SHAPES = {
    "tiny": {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "tie_word_embeddings": True},
    "0.5B": {**random_qwen.SHAPES["qwen2.5-0.5b"], "tie_word_embeddings": True},
    "1.5B": {**random_qwen.SHAPES["qwen2.5-1.5b"], "tie_word_embeddings": True},
    "7B": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "tie_word_embeddings": False},
}  # fmt: skip
for _shape in SHAPES.values():
    _shape.pop("vocab_size", None)
FULL_VOCAB = 151_936
QUICK_VOCAB = 4_096


@dataclass
class Options:
    quick: bool
    budget_s: float
    results: Path | None
    started: float
    model: str | None = None
    liger: bool = False

    @property
    def device(self) -> str:
        return "cuda" if torch.cuda.is_available() else "cpu"

    @property
    def dtype(self) -> torch.dtype:
        # bf16 where the GPU has it (perf.md's setup); fp32 on CPU, where bf16 is slower, not faster.
        return torch.bfloat16 if self.device == "cuda" else torch.float32

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)


def parse(description: str) -> Options:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny Qwen2-shaped model, minutes on 2 CPU cores")
    parser.add_argument(
        "--budget",
        type=float,
        default=float(os.environ.get("BENCH_BUDGET_S", 0)) or None,
        help="seconds this script may take in all (rows that would not fit are skipped; default 150, quick 60)",
    )
    parser.add_argument("--results", type=Path, help="append one JSON line per measured row to this file")
    parser.add_argument(
        "--model", help="a real model instead of the random Qwen2 shapes (e.g. smollm2-135m-instruct, a folder)"
    )
    parser.add_argument("--liger", action="store_true", help="align arm with Liger kernels (CUDA; opt-in)")
    args = parser.parse_args()
    torch.manual_seed(0)
    if not torch.cuda.is_available():
        # One thread, timed in CPU seconds (see clock()): on a shared CPU, wall time measures the neighbours.
        torch.set_num_threads(1)
    budget = args.budget or (60.0 if args.quick else 150.0)
    return Options(
        quick=args.quick,
        budget_s=budget,
        results=args.results,
        started=time.monotonic(),
        model=args.model,
        liger=args.liger,
    )


def build_tokenizer(opts: Options | None = None):
    """The --model's tokenizer, or random_qwen's small BPE with a ChatML template, trained in a second."""
    if opts is not None and opts.model:
        from align.models.load import load_tokenizer, resolve_model

        return load_tokenizer(resolve_model(opts.model))
    return random_qwen.build_tokenizer()


def build_model(opts: Options, shape: str, tokenizer):
    """Random-init Qwen2 with a real shape, built directly on the device in the benchmark's dtype (or --model)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if opts.model:
        from align.models.load import load_base_model, resolve_model

        precision = "bf16" if opts.dtype == torch.bfloat16 else "fp32"
        return load_base_model(resolve_model(opts.model), precision).to(opts.device)

    config = Qwen2Config(
        vocab_size=QUICK_VOCAB if opts.quick else FULL_VOCAB,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        attn_implementation="sdpa",
        **SHAPES[shape],
    )
    torch.manual_seed(0)
    with torch.device(opts.device):
        model = Qwen2ForCausalLM._from_config(config, dtype=opts.dtype)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def lora_config():
    from peft import LoraConfig

    return LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


def train_kwargs(opts: Options, steps: int) -> dict:
    """TrainingArguments both arms share (perf.md's setup: bf16 on GPU, gradient checkpointing)."""
    return {
        "output_dir": "/tmp/align-bench",
        "max_steps": steps,
        "learning_rate": 1e-5,
        "per_device_train_batch_size": 1,
        "bf16": opts.dtype == torch.bfloat16,
        "use_cpu": opts.device == "cpu",
        "gradient_checkpointing": opts.device == "cuda",
        "logging_steps": 10_000,
        "save_strategy": "no",
        "report_to": "none",
        "dataloader_pin_memory": False,
        "disable_tqdm": True,
        "seed": 0,
    }


def clock() -> float:
    """Seconds for timing work: wall time on a GPU (after the queued kernels finish); on CPU, the CPU time of this
    single-threaded process, which other processes on a shared machine slow down far less than wall time."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def timing() -> str:
    return "wall time" if torch.cuda.is_available() else "CPU time, 1 thread"


def step_clock(deadline: float, warmup: int, least: int = 2):
    """A TrainerCallback timing each optimiser step, stopping training once `deadline` (monotonic) passes and at
    least `least` steps after the warm-up were measured."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = clock()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(clock() - self.started)
            if time.monotonic() > deadline and len(self.times) >= warmup + least:
                control.should_training_stop = True

        def measured(self) -> list[float]:
            return self.times[warmup:]

    return StepClock()


class PeakMemory:
    """Peak GPU memory allocated (CUDA) or peak resident set size (CPU, sampled every 10 ms) within a block."""

    def __init__(self):
        self.peak_bytes = 0

    @contextmanager
    def measure(self):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            yield self
            torch.cuda.synchronize()
            self.peak_bytes = torch.cuda.max_memory_allocated()
            return
        stop = threading.Event()

        def sample():
            page = os.sysconf("SC_PAGE_SIZE")
            while not stop.is_set():
                with Path("/proc/self/statm").open() as f:
                    self.peak_bytes = max(self.peak_bytes, int(f.read().split()[1]) * page)
                stop.wait(0.01)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()

    @property
    def gib(self) -> float:
        return self.peak_bytes / 2**30


@dataclass
class Arm:
    """One measured arm: throughput (higher is better) in `unit`, and what it was measured on."""

    throughput: float
    unit: str
    peak_gib: float
    steps: int
    note: str = ""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def release() -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def report(opts: Options, bench: str, row: str, stock: Arm | None, align: Arm | None, skipped: str = "") -> None:
    """One line per arm and a ratio line; appended as JSON to --results for the driver's table."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({timing()})"
    if skipped:
        print(f"[{bench}] {row}: skipped ({skipped})", flush=True)
    for name, arm in (("stock", stock), ("align", align)):
        if arm is not None:
            mem = "GPU alloc" if torch.cuda.is_available() else "RSS"
            print(
                f"[{bench}] {row} | {name:5} | {arm.throughput:10.2f} {arm.unit} | peak {arm.peak_gib:6.2f} GiB {mem}"
                f" | {arm.steps} measured{' | ' + arm.note if arm.note else ''}",
                flush=True,
            )
    ratio = align.throughput / stock.throughput if stock and align and stock.throughput else None
    if ratio is not None:
        print(f"[{bench}] {row} | ratio: {ratio:.2f} (align over stock)", flush=True)
    if opts.results:
        record = {
            "bench": bench,
            "row": row,
            "device": device,
            "skipped": skipped or None,
            "stock": asdict(stock) if stock else None,
            "align": asdict(align) if align else None,
            "ratio": round(ratio, 3) if ratio is not None else None,
            "versions": versions(),
        }
        with opts.results.open("a") as handle:
            handle.write(json.dumps(record) + "\n")


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "transformers", "trl", "peft", "liger-kernel"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found
