"""SFT tokens/s: stock TRL SFTTrainer vs the same trainer with align's speed options (align.stages.speed).

    python benchmarks/sft.py [--quick] [--budget S] [--results FILE]

Both arms: SFTTrainer, LoRA r16 α32 on all linear layers, the same pre-tokenised rows, learning rate and steps;
bf16 and gradient checkpointing on GPU (perf.md's setup). align adds what `sft_speed()` returns by default, which
today is nothing: Liger kernels measured 0.85x on an H200 and padding-free batches are slower with SDPA, so both
are opt-in; `--liger` measures the align arm with Liger on.
Full mode: Qwen2.5-1.5B shape at 1 x 8192 tokens, then 7B at 1 x 8192 when the budget leaves time. Quick mode:
tiny model, 4 rows of 64-256 tokens.
"""

from __future__ import annotations

import time

import harness

# Seconds a row needs at least (model build, trainer set-up, 2 warm-up + 2 measured steps, both arms) on an H100.
ROW_COST_S = {"tiny": 20, "1.5B": 45, "7B": 90}


def rows(lengths: list[int], count: int, vocab: int) -> list[dict]:
    import torch

    generator = torch.Generator().manual_seed(0)
    return [
        {"input_ids": torch.randint(10, vocab, (lengths[i % len(lengths)],), generator=generator).tolist()}
        for i in range(count)
    ]


def arm(opts, tokenizer, shape, data, batch, speed, deadline) -> harness.Arm:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    warmup, steps = 2, 10
    clock = harness.step_clock(deadline, warmup, least=3 if opts.quick else 2)
    config = SFTConfig(
        **harness.train_kwargs(opts, warmup + steps) | {"per_device_train_batch_size": batch},
        max_length=max(len(r["input_ids"]) for r in data),
        dataset_num_proc=None,
        **speed[0],
    )
    trainer = SFTTrainer(
        model=harness.build_model(opts, shape, tokenizer),
        args=config,
        train_dataset=Dataset.from_list(data),
        processing_class=tokenizer,
        peft_config=harness.lora_config(),
        callbacks=[clock],
        **speed[1],
    )
    memory = harness.PeakMemory()
    with memory.measure():
        trainer.train()
    del trainer
    harness.release()
    tokens_per_step = sum(len(r["input_ids"]) for r in data[:batch])  # every step sees the same lengths
    step_s = harness.median(clock.measured())
    return harness.Arm(tokens_per_step / step_s, "tok/s", memory.gib, len(clock.measured()), f"{step_s:.3f} s/step")


def main() -> None:
    opts = harness.parse(__doc__.splitlines()[0])
    from align.stages.speed import sft_speed

    tokenizer = harness.build_tokenizer(opts)
    vocab = len(tokenizer) if opts.model else harness.QUICK_VOCAB if opts.quick else harness.FULL_VOCAB
    plans = [("tiny", [256, 64, 160, 96], 4)] if opts.quick else [("1.5B", [8192], 1), ("7B", [8192], 1)]
    for shape, lengths, batch in plans:
        row = f"sft {opts.model or shape}, {batch} x {'/'.join(map(str, lengths))} tokens, LoRA r16"
        if opts.left() < ROW_COST_S[shape]:
            harness.report(opts, "sft", row, None, None, skipped=f"{opts.left():.0f} s of budget left")
            continue
        data = rows(lengths, batch * 16, vocab)
        share = time.monotonic() + opts.left() / (2 if shape == plans[-1][0] else 4)
        stock = arm(opts, tokenizer, shape, data, batch, ({}, {}), share)
        speed = sft_speed(tokenizer.pad_token_id, liger=opts.liger or None)
        share = time.monotonic() + (opts.left() if shape == plans[-1][0] else opts.left() / 3)
        try:
            align = arm(opts, tokenizer, shape, data, batch, speed, share)
        except Exception as err:  # an optional kernel package that does not fit this stack: measure without it
            if not speed[0]["use_liger_kernel"]:
                raise
            print(f"[sft] {row}: align with Liger failed ({type(err).__name__}: {err}); measuring without it")
            harness.release()
            speed = sft_speed(tokenizer.pad_token_id, liger=False)
            align = arm(opts, tokenizer, shape, data, batch, speed, time.monotonic() + opts.left() / 2)
        align.note += f", padding_free={bool(speed[1])}, liger={speed[0]['use_liger_kernel']}"
        harness.report(opts, "sft", row, stock, align)


if __name__ == "__main__":
    main()
