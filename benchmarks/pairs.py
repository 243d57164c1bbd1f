"""Pair-building sampling on a real model: HF `generate` as align ran it before vs align's decoder.

    python benchmarks/pairs.py [--model smollm2-135m-instruct] [--adapter RUN/sft] [--prompts 16] [--budget S]

recipes/math.yaml's pairs stage on a bounded subset: the first N prompts of data/math/prompts.jsonl, k=8 samples,
64 new tokens, temperature 0.8, top-p 0.95. Both arms sample from the same model with the adapter merged in fp32
(as the HF sampler always did). Stock: `model.generate` over the k copies of each prompt in batches of 32 (the
sampler's code before align.generation.decode). align: `hf_generate` with the HF sampler's CPU batch of 64
(length-sorted batches, one prefill per prompt, finished answers leave the batch, top-p without a vocabulary
sort). Answers end at EOS, so how long they are depends on the policy: pass
the SFT stage's adapter to measure the workload pair building really has.
"""

from __future__ import annotations

import json
import sys

import harness
import torch


def stock_sample(model, tokenizer, chats, k: int, max_new_tokens: int, batch_size: int = 32) -> int:
    """What HFSampler ran before: `generate` in fixed batches of the repeated prompts; returns tokens decoded."""
    from align.generation.hf import render_prompts

    texts = [t for t in render_prompts(tokenizer, chats) for _ in range(k)]
    tokenizer.padding_side = "left"
    torch.manual_seed(0)
    generated = 0
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=True,
                temperature=0.8,
                top_p=0.95,
                top_k=None,
                pad_token_id=tokenizer.pad_token_id,
            )
        generated += out.shape[0] * (out.shape[1] - enc["input_ids"].shape[1])
    return generated


def main() -> None:
    extra = {"--adapter": None, "--prompts": "16"}
    for key in extra:  # this script's own options; harness parses the common ones
        if key in sys.argv:
            at = sys.argv.index(key)
            extra[key] = sys.argv[at + 1]
            del sys.argv[at : at + 2]
    if "--model" not in sys.argv:
        sys.argv += ["--model", "smollm2-135m-instruct"]
    opts = harness.parse(__doc__.splitlines()[0])
    from align.generation.hf import hf_generate
    from align.models.load import load_policy, resolve_model

    location = resolve_model(opts.model)
    tokenizer = harness.build_tokenizer(opts)
    model = load_policy(location, "fp32", adapter=extra["--adapter"])
    if extra["--adapter"]:
        model = model.merge_and_unload()
    model.eval()
    rows = [json.loads(line) for line in (harness.ROOT / "data/math/prompts.jsonl").read_text().splitlines()]
    chats = [[{"role": "user", "content": r["prompt"]}] for r in rows[: int(extra["--prompts"])]]
    k, tokens = 8, 64
    samples = len(chats) * k
    row = f"pairs {opts.model}{' + adapter' if extra['--adapter'] else ''}, {len(chats)} prompts x k={k} x {tokens}"

    hf_generate(model, tokenizer, chats[:1], n=2, temperature=0.8, max_new_tokens=4)  # warm-up
    arms = {}
    for name in ("stock", "align"):
        memory = harness.PeakMemory()
        with memory.measure():
            started = harness.clock()
            if name == "stock":
                decoded = stock_sample(model, tokenizer, chats, k, tokens)
            else:
                groups = hf_generate(
                    model, tokenizer, chats, n=k, temperature=0.8, top_p=0.95, max_new_tokens=tokens, batch_size=64
                )
                decoded = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for g in groups for t in g)
            elapsed = harness.clock() - started
        what = "positions decoded (padding included)" if name == "stock" else "answer tokens"
        note = f"{elapsed:.1f} s for {samples} samples, {decoded} {what}"
        arms[name] = harness.Arm(samples / elapsed, "samples/s", memory.gib, 1, note)
    harness.report(opts, "pairs", row, arms["stock"], arms["align"])


if __name__ == "__main__":
    main()
