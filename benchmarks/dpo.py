"""DPO pairs/s: stock TRL DPOTrainer vs the same trainer with align's speed options (align.stages.speed).

    python benchmarks/dpo.py [--quick] [--budget S] [--results FILE]

Both arms: DPOTrainer continuing a LoRA adapter (r16 α32, all linear layers) against a frozen copy of it, as
align's dpo stage does; the same pairs, β, learning rate and steps; bf16 and gradient checkpointing on GPU.
align adds `dpo_speed_kwargs()`: reference log-probs computed once before training (exact: the reference never
changes). The throughput is of training steps; the one-off precompute is in the note (`init`), so the ratio
over a whole epoch is lower by that share. Full mode: Qwen2.5-1.5B shape, 4 pairs per step, 2048 tokens per
sequence (1024 prompt + 1024 answer). Quick mode: tiny model, 4 pairs of 64 + 64 tokens.
"""

from __future__ import annotations

import time

import harness
import torch


def pairs(tokenizer, count: int, prompt_tokens: int, answer_tokens: int) -> list[dict]:
    """Text whose token counts are close to the asked ones (decoded random ids of the benchmark tokenizer)."""
    generator = torch.Generator().manual_seed(0)
    low, high = 3, len(tokenizer) - 1  # skip the special tokens at the start of the vocabulary

    def text(tokens: int) -> str:
        return tokenizer.decode(torch.randint(low, high, (tokens,), generator=generator).tolist())

    return [
        {"prompt": text(prompt_tokens), "chosen": text(answer_tokens), "rejected": text(answer_tokens)}
        for _ in range(count)
    ]


def arm(opts, tokenizer, shape, data, batch, extra, deadline) -> harness.Arm:
    from datasets import Dataset
    from peft import get_peft_model
    from trl import DPOConfig, DPOTrainer

    warmup, steps = 2, 10
    clock = harness.step_clock(deadline, warmup, least=3 if opts.quick else 2)
    policy = get_peft_model(harness.build_model(opts, shape, tokenizer), harness.lora_config())
    for name, param in policy.named_parameters():  # an SFT adapter to continue: B = 0 would be no adapter
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    config = DPOConfig(
        **harness.train_kwargs(opts, warmup + steps) | {"per_device_train_batch_size": batch},
        max_length=None,
        beta=0.1,
        dataset_num_proc=None,
        **extra,
    )
    memory = harness.PeakMemory()
    with memory.measure():
        started = time.monotonic()
        trainer = DPOTrainer(
            model=policy,
            args=config,
            train_dataset=Dataset.from_list(data),
            processing_class=tokenizer,
            callbacks=[clock],
        )
        init_s = time.monotonic() - started
        trainer.train()
    del trainer
    harness.release()
    step_s = harness.median(clock.measured())
    return harness.Arm(
        batch / step_s, "pairs/s", memory.gib, len(clock.measured()), f"{step_s:.3f} s/step, init {init_s:.1f} s"
    )


def main() -> None:
    opts = harness.parse(__doc__.splitlines()[0])
    from align.stages.speed import dpo_speed_kwargs

    tokenizer = harness.build_tokenizer(opts)
    shape, batch, prompt_tokens, answer_tokens = ("tiny", 4, 64, 64) if opts.quick else ("1.5B", 4, 1024, 1024)
    row = f"dpo {opts.model or shape}, {batch} pairs x {prompt_tokens}+{answer_tokens} tokens, LoRA r16"
    data = pairs(tokenizer, batch * 8, prompt_tokens, answer_tokens)
    stock = arm(opts, tokenizer, shape, data, batch, {}, time.monotonic() + opts.left() / 2 - 5)
    extra = dpo_speed_kwargs(batch_size=batch)
    try:
        align = arm(opts, tokenizer, shape, data, batch, extra, time.monotonic() + opts.left() - 5)
    except Exception as err:  # an optional kernel package that does not fit this stack: measure without it
        if not extra["use_liger_kernel"]:
            raise
        print(f"[dpo] {row}: align with Liger failed ({type(err).__name__}: {err}); measuring without it")
        harness.release()
        extra = dpo_speed_kwargs(batch_size=batch, liger=False)
        align = arm(opts, tokenizer, shape, data, batch, extra, time.monotonic() + opts.left() - 5)
    align.note += ", " + ", ".join(f"{k}={v}" for k, v in extra.items())
    harness.report(opts, "dpo", row, stock, align)


if __name__ == "__main__":
    main()
