"""GRPO: groups of completions per prompt, scored by verifiers and the six reward dimensions, trained with TRL.

Before training, prompts are ordered by the variance of their group's rewards (highest first) and zero-variance
prompts dropped, as in the Qwen2.5 report. Rollouts go through a `rollout_func` (align.stages.grpo.rollouts): with
vLLM it serves the current adapter (saved after every optimiser step, loaded under a new LoRA id); without it,
align's decoder samples from a copy of the policy with the adapter merged, re-synced every step. `merged_rollouts:
false` leaves generation to TRL, as does an adapter the copy cannot merge exactly (e.g. LoRA on a MoE's expert
parameters; the manifest's notes say why). A stage with `tools` runs TRL's tool loop instead (grpo/tools.py).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from align.artifacts.contract import COMPLETIONS, PROMPT_SELECTION, write_json_atomic
from align.config.schema import GRPOStage
from align.data.prompt_sources import SOURCE_COLUMN, load_stage_prompts, reference_rewards
from align.generation.backend import Sampler, VLLMSampler, resolve_backend
from align.generation.recipe_sampler import recipe_sampler
from align.models.load import load_tokenizer
from align.runtime import distributed
from align.runtime.context import StageContext, resolve_precision
from align.runtime.crashpoints import crash_point
from align.runtime.errors import AlignError
from align.stages.grpo.adapters import remove_rollout_adapters
from align.stages.grpo.completions import CompletionsLog, LastBatch, RecordingReward
from align.stages.grpo.online import online_filtering
from align.stages.grpo.reward_health import RewardHealth
from align.stages.grpo.rollouts.build import make_rollout, rollout_metrics
from align.stages.grpo.rollouts.record import RolloutLog
from align.stages.grpo.safe_reward import SafeReward
from align.stages.grpo.scoring import named_weights, reward_flags, reward_metrics, score_groups, stage_rewards
from align.stages.grpo.selection import per_source, select_by_variance
from align.stages.grpo.tools import tool_callbacks, tool_training
from align.stages.init_adapter import init_adapter, trainable_policy
from align.stages.results import GRPOResult
from align.stages.training import guarded_callbacks, loss_metrics, save_policy, trainer_kwargs
from reward import BuiltReward

log = logging.getLogger(__name__)


def saved_selection(ctx: StageContext) -> dict[str, Any] | None:
    """The selection an interrupted run of this configuration saved: re-sampling it would cost the work again,
    and on a different sampler state could pick other prompts than the checkpoint was trained on."""
    if not ctx.resuming:
        return None
    try:
        return json.loads((ctx.stage_dir / PROMPT_SELECTION).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def select_prompts(stage: GRPOStage, ctx: StageContext, sampler: Sampler | None, rewards: list[BuiltReward], dataset):
    spec = stage.prompt_selection
    candidates = dataset.select(range(min(spec.candidates or len(dataset), len(dataset))))
    saved = saved_selection(ctx)
    if saved is not None:
        log.info(
            "prompt selection: reusing %s of the interrupted run (%d prompts)", PROMPT_SELECTION, len(saved["order"])
        )
        stats = {k: v for k, v in saved.items() if k not in ("order", "variances")}
        return candidates.select(saved["order"]), stats | {"reused": True}
    assert sampler is not None  # run() builds one whenever there is no saved selection
    # Each rank scores its slice of the candidates; the gathered scores are in candidate order on every rank,
    # so all ranks select the same prompts.
    rows = distributed.shard(candidates.to_list())
    groups = sampler.sample(
        [r["prompt"] for r in rows],
        n=spec.num_generations or stage.num_generations,
        temperature=stage.temperature,
        top_p=stage.top_p,
        max_new_tokens=stage.max_completion_length,
        seed=stage.seed,
    )
    scores = distributed.gather(score_groups(rewards, rows, groups) if rows else [])
    RewardHealth([r.function for r in rewards], stage.reward_failure_limit, stage.name).raise_if_failing(
        "prompt selection"
    )
    selection = select_by_variance(scores, keep=spec.keep)
    stats = dict(selection.stats())
    if SOURCE_COLUMN in candidates.column_names:
        paths = [source.path for source in stage.prompt_sources]
        stats["by_source"] = per_source(candidates[SOURCE_COLUMN], selection.order, paths)
    if distributed.is_main():
        write_json_atomic(
            ctx.stage_dir / PROMPT_SELECTION,
            {
                **stats,
                "order": selection.order,
                "variances": selection.variances,
            },
        )
    log.info(
        "prompt selection: kept %d of %d prompts (%d zero-variance, %d unscored dropped)",
        stats["kept"],
        stats["candidates"],
        stats["dropped_zero_variance"],
        stats["dropped_unscored"],
    )
    for source in stats.get("by_source", []):
        log.info("prompt selection: %s: kept %d of %d", source["path"], source["kept"], source["candidates"])
    crash_point(f"{stage.name}:selection")
    if not selection.order:
        raise AlignError(
            f"stages.{stage.name}: every candidate prompt's group scored the same (no gradient); "
            "use harder/easier prompts, a higher temperature, or disable prompt_selection"
        )
    return candidates.select(selection.order), stats


def run(ctx: StageContext) -> GRPOResult:
    from trl import GRPOTrainer

    stage = ctx.typed_stage(GRPOStage)
    dataset, sources = load_stage_prompts(stage)
    if sources:
        ctx.notes["prompt_sources"] = [asdict(source) for source in sources]
    built = stage_rewards(stage, ctx.artifact(stage.reward) if stage.reward else None, ctx.base_model)
    failures: Counter[str] = Counter()
    # A verifier has no verdict on an unverified source's rows, nor a reference reward on a row that ships no
    # reference, by design: not failures to count.
    unverified = (SOURCE_COLUMN, frozenset(s.index for s in sources if not s.verified))
    unscored: dict[str, tuple[str, frozenset[Any]]] = {
        name: unverified for name, spec in stage.rewards.items() if spec.source == "verifier"
    }
    unscored |= {name: (column, frozenset({None})) for name, column in reference_rewards(stage).items()}
    rewards = [replace(r, function=SafeReward(r.function, failures, unscored.get(r.name))) for r in built]
    init = init_adapter(ctx, stage.init)
    precision = resolve_precision(stage.precision)
    on_server = stage.rollouts.mode == "server"
    vllm_rollouts = not on_server and not stage.tools and resolve_backend(stage.backend) == "vllm"
    sampler = (
        selection_sampler(stage, ctx, precision, dataset["prompt"], init)
        if vllm_rollouts or (stage.prompt_selection.enabled and saved_selection(ctx) is None)
        else None
    )

    pool = dataset.to_list()  # dynamic sampling draws replacements from every prompt, dropped ones included
    selection_stats: dict[str, Any] = {}
    if stage.prompt_selection.enabled:  # a resumed run reads its saved selection; no sampler needed
        dataset, selection_stats = select_prompts(stage, ctx, sampler, rewards, dataset)
    ctx.notes["prompt_selection"] = selection_stats

    record = RolloutLog()
    tokenizer = load_tokenizer(ctx.base_model)
    if not isinstance(sampler, VLLMSampler):
        sampler = None  # vLLM rollouts keep their engine; an HF sampling copy is freed before training loads

    last = LastBatch()
    tooling = tool_training(stage, ctx, tokenizer, dataset.to_list(), last)
    model = trainable_policy(ctx, init, precision)
    rollout = None if tooling else make_rollout(sampler, stage, ctx, record, tokenizer, model)
    sampler = None
    trainer_class, online = online_filtering(
        stage, ctx, GRPOTrainer, pool, dataset.to_list(), lambda r, g: score_groups(rewards, r, g)
    )
    callbacks, guard = guarded_callbacks(stage)
    health = RewardHealth([r.function for r in rewards], stage.reward_failure_limit, stage.name)
    # rollout_func is how align supplies completions on purpose; TRL's "experimental" warning is not for users.
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    trainer = trainer_class(
        model=model,
        reward_funcs=[RecordingReward(r.function, last) for r in rewards],
        args=grpo_config(stage, ctx, rewards),
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
        callbacks=[*completions_log(stage, ctx, rewards, last), *online, *callbacks, health, *tool_callbacks(tooling)],
        **(tooling.trainer_kwargs() if tooling else {}),
    )
    if tooling:
        tooling.callback.attach(trainer)
    trainer.train(resume_from_checkpoint=str(ctx.resume_from) if ctx.resume_from else None)
    guard.raise_if_stopped(ctx.checkpoint_dir)
    health.raise_if_stopped(ctx.checkpoint_dir)
    save_policy(trainer, tokenizer, ctx, only_default_adapter=True)
    if distributed.is_main():
        remove_rollout_adapters(ctx.stage_dir)
    history = trainer.state.log_history
    return GRPOResult(
        losses=loss_metrics(history),
        rewards=reward_metrics(history, [r.name for r in rewards]),
        steps=trainer.state.global_step,
        prompts_trained=len(dataset),
        rollout_backend="server" if on_server else "vllm" if vllm_rollouts else "hf",
        guard=guard.counts(),
        reward_failures=dict(sorted(failures.items())),
        reward_flags=reward_flags(built),
        rollouts=rollout_metrics(rollout, record),
        tools=tooling.callback.metrics() if tooling else {},
    )


def selection_sampler(stage: GRPOStage, ctx: StageContext, precision: str, prompts: list, init: Path | None) -> Sampler:
    """The sampler that scores candidate prompts, kept for rollouts when it is vLLM. With HF rollouts TRL generates
    with the training model itself, so this copy is built only when prompts must be scored: loading it otherwise
    would cost a whole model load for nothing."""
    return recipe_sampler(
        ctx.recipe,
        stage.backend,
        ctx.base_model,
        precision,
        init,
        prompts,
        stage.max_completion_length,
        stage.sample_batch,
    )


def grpo_config(stage: GRPOStage, ctx: StageContext, rewards: list[BuiltReward]):
    from trl import GRPOConfig

    return GRPOConfig(
        **(trainer_kwargs(stage, ctx) | training_passes(stage)),
        num_generations=stage.num_generations,
        max_completion_length=stage.max_completion_length,
        temperature=stage.temperature,
        top_p=stage.top_p,
        beta=stage.beta,
        loss_type=stage.loss_type,
        scale_rewards=stage.scale_rewards,
        reward_weights=[r.weight for r in rewards],
        multi_objective_aggregation=stage.aggregation,
        # The variance order is the curriculum; shuffling would undo it.
        shuffle_dataset=not stage.prompt_selection.enabled,
        use_vllm=False,
        max_tool_calling_iterations=stage.max_turns - 1 if stage.tools else None,
    )


def completions_log(stage: GRPOStage, ctx: StageContext, rewards: list[BuiltReward], last: LastBatch) -> list:
    """The main process logs its own share of each step's completions (one file, one writer)."""
    if not distributed.is_main():
        return []
    tensorboard = ctx.tensorboard_dir / "completions" if "tensorboard" in stage.report_to else None
    log_file = ctx.stage_dir / COMPLETIONS
    return [CompletionsLog(last, named_weights(rewards), log_file, tensorboard, stage.log_completions_steps)]


def training_passes(stage: GRPOStage) -> dict[str, int]:
    """TRL's batch arguments for a step of `rows_per_step` completions trained `batch_size` at a time: TRL
    generates per_device_train_batch_size x steps_per_generation (= gradient_accumulation_steps) completions at
    once and splits them into that many passes, so the generation batch, and the update, stay one step's."""
    return {
        "per_device_train_batch_size": stage.rows_per_pass,
        "per_device_eval_batch_size": stage.rows_per_pass,
        "gradient_accumulation_steps": stage.passes_per_step,
    }
