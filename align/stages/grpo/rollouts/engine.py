"""GRPO rollouts through align's vLLM sampler: a TRL `rollout_func` that serves the adapter being trained.

After every optimiser step the adapter is saved and loaded into vLLM under a new LoRA id (adapter-only sync, no
merge, no full-weight copy); `RolloutLog` records what each sync cost, for the manifest.
"""

from __future__ import annotations

from typing import Any

from align.config.schema import GRPOStage
from align.generation.backend import VLLMSampler
from align.runtime.context import StageContext
from align.stages.grpo.adapters import prune_rollout_adapters, rollout_adapter_dir
from align.stages.grpo.rollouts.record import RolloutLog, group_heads
from align.stages.training import save_adapter


def vllm_rollout(sampler: VLLMSampler, stage: GRPOStage, ctx: StageContext, record: RolloutLog):
    """A TRL rollout_func: sync the adapter to vLLM after each optimiser step, then sample the groups."""
    from vllm import SamplingParams

    if sampler.sleeps:
        # Level 1 drops the KV cache and parks the weights in CPU memory between rollouts, so each training
        # step gets the GPU memory vLLM reserved; the engine wakes before the adapter sync and the sampling.
        sampler.llm.sleep(level=1)

    def push(trainer) -> None:
        folder = rollout_adapter_dir(ctx.stage_dir, trainer.state.global_step)
        save_adapter(trainer, folder)
        sampler.set_adapter(folder)
        prune_rollout_adapters(ctx.stage_dir, stage.keep_rollout_adapters)

    def rollout(prompts: list, trainer) -> dict[str, Any]:
        if sampler.sleeps:
            sampler.llm.wake_up()
        record.sync_once_per_step(trainer.state.global_step, lambda: push(trainer))
        unique = group_heads(prompts, stage.num_generations)
        params = SamplingParams(
            n=stage.num_generations,
            temperature=stage.temperature,
            top_p=stage.top_p,
            max_tokens=stage.max_completion_length,
            logprobs=0,
        )
        with record.sampling():
            outputs = sampler.llm.chat(unique, params, lora_request=sampler.lora, use_tqdm=False)
        if sampler.sleeps:
            sampler.llm.sleep(level=1)
        prompt_ids, completion_ids, logprobs = [], [], []
        for out in outputs:
            for choice in out.outputs:
                prompt_ids.append(list(out.prompt_token_ids))
                completion_ids.append(list(choice.token_ids))
                logprobs.append([next(iter(lp.values())).logprob for lp in choice.logprobs])
        record.completions += len(completion_ids)
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": logprobs}

    return rollout
