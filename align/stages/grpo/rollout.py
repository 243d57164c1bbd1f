"""GRPO rollouts through align's vLLM sampler: a TRL `rollout_func` that serves the adapter being trained.

After every optimiser step the adapter is saved and loaded into vLLM under a new LoRA id (adapter-only sync, no
merge, no full-weight copy); `RolloutLog` records what each sync cost, for the manifest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from align.config.schema import GRPOStage
from align.generation.backend import VLLMSampler
from align.runtime.context import StageContext
from align.stages.grpo.adapters import prune_rollout_adapters, rollout_adapter_dir
from align.stages.training import save_adapter


@dataclass
class RolloutLog:
    """What the vLLM rollouts did, for the manifest: the evidence that they ran, and what each sync cost."""

    sync_steps: list[int] = field(default_factory=list)
    sync_s: list[float] = field(default_factory=list)
    sample_s: float = 0.0
    completions: int = 0

    def metrics(self) -> dict[str, Any]:
        return {
            "adapter_syncs": len(self.sync_s),
            "adapter_sync_steps": self.sync_steps,
            "adapter_sync_s_mean": round(mean(self.sync_s), 3) if self.sync_s else None,
            "adapter_sync_s_max": round(max(self.sync_s), 3) if self.sync_s else None,
            "rollout_completions": self.completions,
            "rollout_samples_per_s": round(self.completions / self.sample_s, 2) if self.sample_s else None,
        }


def vllm_rollout(sampler: VLLMSampler, stage: GRPOStage, ctx: StageContext, record: RolloutLog):
    """A TRL rollout_func: sync the adapter to vLLM after each optimiser step, then sample the groups."""
    from vllm import SamplingParams

    if sampler.sleeps:
        # Level 1 drops the KV cache and parks the weights in CPU memory between rollouts, so each training
        # step gets the GPU memory vLLM reserved; the engine wakes before the adapter sync and the sampling.
        sampler.llm.sleep(level=1)

    def rollout(prompts: list, trainer) -> dict[str, Any]:
        if sampler.sleeps:
            sampler.llm.wake_up()
        step = trainer.state.global_step
        # Also at the first rollout: on resume the trainer's adapter is a checkpoint's, not the init's.
        if not record.sync_steps or record.sync_steps[-1] != step:
            started = time.monotonic()
            folder = rollout_adapter_dir(ctx.stage_dir, step)
            save_adapter(trainer, folder)
            sampler.set_adapter(folder)
            prune_rollout_adapters(ctx.stage_dir, stage.keep_rollout_adapters)
            record.sync_s.append(time.monotonic() - started)
            record.sync_steps.append(step)
        # TRL repeats each prompt num_generations times in a row; vLLM samples a group from one prompt faster.
        unique = prompts[:: stage.num_generations]
        params = SamplingParams(
            n=stage.num_generations,
            temperature=stage.temperature,
            top_p=stage.top_p,
            max_tokens=stage.max_completion_length,
            logprobs=0,
        )
        started = time.monotonic()
        outputs = sampler.llm.chat(unique, params, lora_request=sampler.lora, use_tqdm=False)
        record.sample_s += time.monotonic() - started
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
