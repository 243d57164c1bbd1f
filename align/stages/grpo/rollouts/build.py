"""Which rollout_func a GRPO stage trains with, and what it reports for the manifest."""

from __future__ import annotations

import logging
from typing import Any

from align.config.schema import GRPOStage
from align.generation.backend import Sampler, VLLMSampler
from align.generation.merged import unmergeable
from align.runtime.context import StageContext
from align.stages.grpo.rollouts.engine import vllm_rollout
from align.stages.grpo.rollouts.merged import MergedRollout
from align.stages.grpo.rollouts.record import RolloutLog
from align.stages.grpo.rollouts.server import server_rollout

log = logging.getLogger(__name__)


def make_rollout(sampler: Sampler | None, stage: GRPOStage, ctx: StageContext, record: RolloutLog, tokenizer, model):
    """The TRL rollout_func: a vLLM server or engine with adapter-only sync, merged HF rollouts, or None (TRL's
    own generate, also when the policy's adapter cannot be merged exactly)."""
    if stage.rollouts.mode == "server":
        return server_rollout(stage, ctx, tokenizer, record)
    if isinstance(sampler, VLLMSampler):
        return vllm_rollout(sampler, stage, ctx, record)
    if not stage.merged_rollouts:
        return None
    reason = unmergeable(model)
    if reason is not None:
        log.info("merged rollouts off (%s): TRL generates through the PEFT model", reason)
        ctx.notes["merged_rollouts_off"] = reason
        return None
    return MergedRollout(
        batch_size=stage.rollout_batch_size or stage.rows_per_step,
        static=stage.rollout_static_cache,
        record=record,
    )


def rollout_metrics(rollout, record: RolloutLog) -> dict[str, Any]:
    """Every rollout_func records into the stage's `record`; TRL's own generate (None) records nothing."""
    if rollout is None:
        return {}
    return ({"rollout_engine": "merged"} if isinstance(rollout, MergedRollout) else {}) | record.metrics()
