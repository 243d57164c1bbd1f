"""Measure how often a model solves the shipped math prompts, per level: greedy accuracy and sampled pass mix.

    python data/math/measure.py MODEL_PATH [--data data/math/eval.jsonl] [--per-level 32] [--samples 4]

The sampled mix answers the question the data exists for: on how many prompts do k samples contain both a
right and a wrong answer? Only those yield DPO pairs and non-zero GRPO advantages.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from reward.verifiers.math import verify_math

DEFAULT_DATA = Path(__file__).resolve().parent / "eval.jsonl"


def load_rows(path: Path, per_level: int) -> list[dict]:
    """The first `per_level` rows of each level, in file order."""
    taken: dict[int, int] = defaultdict(int)
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if taken[row["level"]] < per_level:
            taken[row["level"]] += 1
            rows.append(row)
    return rows


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    samples: int,
    temperature: float | None,
    max_new_tokens: int,
    batch_size: int,
) -> list[list[str]]:
    """`samples` completions per prompt; greedy when `temperature` is None."""
    tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge
    texts = [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    per_batch = max(1, batch_size // samples)
    out: list[list[str]] = []
    for start in range(0, len(texts), per_batch):
        enc = tokenizer(texts[start : start + per_batch], return_tensors="pt", padding=True)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
        ids = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            num_return_sequences=samples,
            pad_token_id=tokenizer.pad_token_id,
            **(sampling if temperature is not None else {"do_sample": False}),
        )
        decoded = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        out += [decoded[i : i + samples] for i in range(0, len(decoded), samples)]
    return out


def _dump(path: Path, rows: list[dict], completions: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row, (completion,) in zip(rows, completions, strict=True):
            verdict = verify_math(completion, row["answer"])
            record = {**row, "completion": completion, "score": verdict.score, "reason": verdict.reason}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="local model folder (or hub name) to measure")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="jsonl with prompt, answer, level")
    parser.add_argument("--per-level", type=int, default=32, help="prompts per level (first ones in the file)")
    parser.add_argument("--samples", type=int, default=0, help="sampled completions per prompt; 0 skips sampling")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=32, help="sequences generated at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dump", type=Path, help="write every greedy completion with its verdict here (jsonl)")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    rows = load_rows(args.data, args.per_level)
    prompts = [r["prompt"] for r in rows]
    levels = sorted({r["level"] for r in rows})
    print(f"{args.model} on {args.data} ({len(rows)} prompts, max_new_tokens={args.max_new_tokens})")

    greedy = generate(
        model,
        tokenizer,
        prompts,
        samples=1,
        temperature=None,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
    )
    correct = [verify_math(c[0], r["answer"]).score == 1.0 for c, r in zip(greedy, rows, strict=True)]
    if args.dump is not None:
        _dump(args.dump, rows, greedy)
    for level in levels:
        hits = [ok for ok, r in zip(correct, rows, strict=True) if r["level"] == level]
        print(f"level {level}: greedy {sum(hits)}/{len(hits)} = {sum(hits) / len(hits):.0%}")
    print(f"all: greedy {sum(correct)}/{len(correct)} = {sum(correct) / len(correct):.0%}")

    if args.samples == 0:
        return
    k = args.samples
    sampled = generate(
        model,
        tokenizer,
        prompts,
        samples=k,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
    )
    passes = [sum(verify_math(c, r["answer"]).score == 1.0 for c in cs) for cs, r in zip(sampled, rows, strict=True)]
    print(f"sampled k={k}, temperature={args.temperature}: prompts by number of correct samples")
    for level in [*levels, None]:
        counts = [p for p, r in zip(passes, rows, strict=True) if level is None or r["level"] == level]
        hist = " ".join(f"{j}/{k}:{counts.count(j)}" for j in range(k + 1))
        mixed = sum(0 < p < k for p in counts)
        name = "all" if level is None else f"level {level}"
        print(f"{name}: {hist} | mixed {mixed}/{len(counts)} | sample accuracy {sum(counts) / (k * len(counts)):.0%}")


if __name__ == "__main__":
    main()
