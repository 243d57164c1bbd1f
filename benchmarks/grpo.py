"""GRPO step time: stock TRL GRPOTrainer (its own HF generation) vs the same trainer with align's rollouts.

    python benchmarks/grpo.py [--quick] [--budget S] [--results FILE]

Both arms: the same GRPOConfig, LoRA r16 α32 on all linear layers, data and reward; completions forced to full
length with `generation_kwargs={"min_new_tokens": L}` (perf.md's setup). align passes
`rollout_func=MergedRollout(...)` (align.stages.grpo.rollouts.merged) — what the grpo stage does without vLLM.
Full mode: Qwen2.5-0.5B shape, 8 prompts x 8 generations x 256 tokens. Quick mode: the demo's settings
(2 prompts x 4 generations x 32 tokens) on a tiny Qwen2-shaped model.
"""

from __future__ import annotations

import time

import harness


def varied_length(completions, **_) -> list[float]:
    """Any reward that varies within a group: speed does not depend on what it scores."""
    return [float(len(str(c)) % 7) for c in completions]


def time_generation(trainer) -> list[float]:
    """Seconds of every rollout (TRL's own generation or the rollout_func, sampling to decoded text)."""
    seconds: list[float] = []
    generate = trainer._generate

    def timed(*args, **kwargs):
        started = harness.clock()
        try:
            return generate(*args, **kwargs)
        finally:
            seconds.append(harness.clock() - started)

    trainer._generate = timed
    return seconds


def arm(opts, tokenizer, shape, prompts, generations, length, rollout, deadline) -> harness.Arm:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    rows = [
        {"prompt": [{"role": "user", "content": f"what is {i} plus {i * 3 % 11} and then {i % 5} times"}]}
        for i in range(prompts * 64)
    ]
    warmup, steps = 1, 12
    clock = harness.step_clock(deadline, warmup, least=3 if opts.quick else 2)
    config = GRPOConfig(
        **harness.train_kwargs(opts, warmup + steps) | {"per_device_train_batch_size": prompts * generations},
        num_generations=generations,
        max_completion_length=length,
        temperature=1.0,
        generation_kwargs={"min_new_tokens": length},
        use_vllm=False,
    )
    trainer = GRPOTrainer(
        model=harness.build_model(opts, shape, tokenizer),
        reward_funcs=[varied_length],
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=harness.lora_config(),
        rollout_func=rollout,
        callbacks=[clock],
    )
    generation_s = time_generation(trainer)
    memory = harness.PeakMemory()
    with memory.measure():
        trainer.train()
    step_s = harness.median(clock.measured())
    tokens = prompts * generations * length
    note = (
        f"{step_s:.3f} s/step, {tokens / step_s:.0f} completion tok/s, "
        f"generation {harness.median(generation_s[warmup:]):.3f} s/step"
    )
    del trainer
    harness.release()
    # Throughput is steps per second, so the ratio reads as step-time speed-up.
    return harness.Arm(1 / step_s, "step/s", memory.gib, len(clock.measured()), note)


def main() -> None:
    opts = harness.parse(__doc__.splitlines()[0])
    from align.stages.grpo.rollouts.merged import MergedRollout

    tokenizer = harness.build_tokenizer(opts)
    shape, prompts, generations, length = ("tiny", 2, 4, 32) if opts.quick else ("0.5B", 8, 8, 256)
    row = f"grpo {opts.model or shape}, {prompts} prompts x {generations} generations x {length} tokens"
    stock = arm(opts, tokenizer, shape, prompts, generations, length, None, time.monotonic() + opts.left() / 2 - 10)
    rollout = MergedRollout(batch_size=prompts * generations)
    align = arm(opts, tokenizer, shape, prompts, generations, length, rollout, time.monotonic() + opts.left() - 10)
    align.note += f" (sync included: {1000 * harness.median(rollout.sync_s[1:]):.1f} ms)"
    harness.report(opts, "grpo", row, stock, align)


if __name__ == "__main__":
    main()
