"""GRPO rollouts without vLLM: a TRL `rollout_func` that samples from a merged copy of the training policy.

TRL's own HF path generates through the PEFT-wrapped training model with `generate`. This one samples with
`sample_ids` (shared prefill per group, finished sequences leave the batch) from a `MergedCopy` re-synced once
per optimiser step. Prompts are tokenised the trainer's own way (align.stages.trl_private) and the sampling
settings (temperature, top-p, top-k, `generation_kwargs["min_new_tokens"]`, EOS ids) are read from the trainer, so a
rollout draws from the same distribution TRL's would. No sampling log-probs are returned: with `use_vllm=False`
TRL recomputes the old-policy log-probs from the training model itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from align.generation.decode import sample_ids
from align.generation.merged import MergedCopy
from align.stages.grpo.rollouts.record import RolloutLog, group_heads
from align.stages.trl_private import pad_token_id, tokenize_prompts


@dataclass
class MergedRollout:
    batch_size: int = 64  # sequences decoded together; the GRPO stage sizes it to the device
    static: bool = False  # static KV cache compiled by transformers (CUDA graphs on a GPU); see decode.py
    copy: MergedCopy | None = None
    record: RolloutLog = field(default_factory=RolloutLog)
    calls: int = 0

    def __call__(self, prompts: list, trainer) -> dict[str, Any]:
        unsupported = {"repetition_penalty": trainer.repetition_penalty != 1.0, "min_p": trainer.min_p is not None}
        if any(unsupported.values()):
            raise ValueError(f"merged rollouts do not support {[k for k, v in unsupported.items() if v]}")
        self.record.sync_once_per_step(trainer.state.global_step, lambda: self._sync(trainer))
        assert self.copy is not None  # the first sync made it
        n = trainer.num_generations if trainer.model.training else trainer.num_generations_eval
        prompt_ids = tokenize_prompts(trainer, group_heads(prompts, n))
        extra = trainer.args.generation_kwargs or {}
        with self.record.sampling():
            groups = sample_ids(
                self.copy.model,
                prompt_ids,
                n=n,
                max_new_tokens=trainer.max_completion_length,
                eos_token_ids=trainer.eos_token_ids,
                pad_token_id=pad_token_id(trainer),
                temperature=trainer.temperature,
                top_p=trainer.top_p,
                top_k=trainer.top_k or 0,
                min_new_tokens=int(extra.get("min_new_tokens", 0)),
                batch_size=self.batch_size,
                seed=trainer.args.seed + self.calls,  # a fresh stream per rollout, reproducible per run
                static=self.static,
            )
        self.calls += 1
        completion_ids = [c for group in groups for c in group]
        self.record.completions += len(completion_ids)
        return {
            "prompt_ids": [list(p) for p in prompt_ids for _ in range(n)],
            "completion_ids": completion_ids,
            "logprobs": None,
        }

    @property
    def sync_s(self) -> list[float]:
        return self.record.sync_s

    @property
    def completions(self) -> int:
        return self.record.completions

    def _sync(self, trainer) -> None:
        if self.copy is None:
            self.copy = MergedCopy(trainer.accelerator.unwrap_model(trainer.model))
        else:
            self.copy.sync()

    def metrics(self) -> dict[str, Any]:
        """For the manifest: the evidence that merged rollouts ran, and what syncing and sampling cost."""
        return self.record.metrics()
