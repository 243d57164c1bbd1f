"""Sampling throughput (pair building, evaluation, prompt selection): stock HF `generate` vs align's sampler.

    python benchmarks/generate.py [--quick] [--budget S] [--results FILE]

Stock: what a user writes — `generate` on the PeftModel (LoRA un-merged, dynamic cache), the whole batch at once.
align: the adapter merged into a sampling copy (`align.generation.merged`), then `align.generation.decode`:
length-sorted batches, one prefill per prompt for its k samples, finished sequences dropped. Every sequence is
forced to full length (`min_new_tokens`), so both arms decode the same number of tokens (perf.md's setup).
On a GPU a second align row runs the same sampler with `static=True` (static KV cache, compiled by transformers)
when the budget leaves 30 s. Full mode: Qwen2.5-0.5B shape, 64 sequences (8 prompts x 8 samples) x 256 new tokens.
"""

from __future__ import annotations

import time

import harness
import torch


def prompts(tokenizer, count: int, quick: bool) -> list[list[int]]:
    chats = [
        [
            {
                "role": "user",
                "content": " ".join(f"what is {i} plus {j}" for j in range(2 + (i * 5) % (6 if quick else 12))),
            }
        ]
        for i in range(count)
    ]
    return [
        tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=False) for c in chats
    ]


def stock_arm(opts, policy, tokenizer, ids, n, new_tokens, deadline) -> harness.Arm:
    expanded = [p for p in ids for _ in range(n)]
    width = max(len(p) for p in expanded)
    batch = torch.full((len(expanded), width), tokenizer.pad_token_id)
    mask = torch.zeros_like(batch)
    for row, p in enumerate(expanded):
        batch[row, width - len(p) :], mask[row, width - len(p) :] = torch.tensor(p), 1
    batch, mask = batch.to(opts.device), mask.to(opts.device)

    def once(tokens: int) -> float:
        started = harness.clock()
        with torch.no_grad():
            policy.generate(
                input_ids=batch,
                attention_mask=mask,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=True,
                temperature=1.0,
                top_k=None,
                pad_token_id=tokenizer.pad_token_id,
            )
        return harness.clock() - started

    return _repeat(opts, once, len(expanded), new_tokens, deadline, "PeftModel.generate, dynamic cache")


def align_arm(opts, policy, tokenizer, ids, n, new_tokens, deadline, static=False) -> harness.Arm:
    from align.generation.decode import sample_ids
    from align.generation.merged import MergedCopy

    started = time.monotonic()
    copy = MergedCopy(policy)
    merge_s = time.monotonic() - started

    def once(tokens: int) -> float:
        started = harness.clock()
        sample_ids(
            copy.model,
            ids,
            n=n,
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            temperature=1.0,
            eos_token_ids=[tokenizer.eos_token_id],
            pad_token_id=tokenizer.pad_token_id,
            batch_size=len(ids) * n,
            static=static,
        )
        return harness.clock() - started

    # A static cache compiles per cache shape, so its warm-up must be the full length (compile time excluded).
    name = "merged copy + static cache, compiled" if static else "merged copy + align.generation.decode"
    arm = _repeat(opts, once, len(ids) * n, new_tokens, deadline, name, new_tokens if static else 8)
    arm.note += f", merge {merge_s:.2f} s once"
    return arm


def _repeat(opts, once, sequences, new_tokens, deadline, note, warmup_tokens=8) -> harness.Arm:
    started = time.monotonic()
    once(min(warmup_tokens, new_tokens))  # warm-up: first-call costs (allocator, kernels, compiling) excluded
    note += f", warm-up {time.monotonic() - started:.1f} s"
    memory = harness.PeakMemory()
    times: list[float] = []
    with memory.measure():
        while not times or (len(times) < 3 and time.monotonic() + times[-1] < deadline):
            times.append(once(new_tokens))
    return harness.Arm(sequences * new_tokens / harness.median(times), "tok/s", memory.gib, len(times), note)


def main() -> None:
    opts = harness.parse(__doc__.splitlines()[0])
    from peft import get_peft_model

    tokenizer = harness.build_tokenizer(opts)
    shape, n_prompts, n, new_tokens = ("tiny", 8, 8, 64) if opts.quick else ("0.5B", 8, 8, 256)
    row = f"generate {opts.model or shape}, {n_prompts} prompts x {n} samples x {new_tokens} tokens, LoRA r16"
    policy = get_peft_model(harness.build_model(opts, shape, tokenizer), harness.lora_config())
    policy.eval()
    for name, param in policy.named_parameters():  # a trained adapter: B = 0 would make LoRA a no-op
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    ids = prompts(tokenizer, n_prompts, opts.quick)
    cuda = torch.cuda.is_available()
    share = 0.4 if cuda else 0.5  # on a GPU, the static-cache arm below needs time to compile
    stock = stock_arm(opts, policy, tokenizer, ids, n, new_tokens, time.monotonic() + share * opts.left() - 5)
    harness.release()
    deadline = time.monotonic() + (0.4 if cuda else 1.0) * opts.left() - 5
    align = align_arm(opts, policy, tokenizer, ids, n, new_tokens, deadline)
    harness.report(opts, "generate", row, stock, align)
    if not cuda:  # without a GPU nothing compiles, and a static cache only adds padding
        return
    harness.release()
    row += ", static cache"
    if opts.left() < 30:
        harness.report(opts, "generate", row, None, None, skipped=f"{opts.left():.0f} s of budget left")
        return
    static = align_arm(opts, policy, tokenizer, ids, n, new_tokens, time.monotonic() + opts.left() - 3, static=True)
    harness.report(opts, "generate", row, stock, static)


if __name__ == "__main__":
    main()
