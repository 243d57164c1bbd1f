"""GRPO: groups of completions per prompt, scored by verifiers and the six reward dimensions, trained with TRL.

Before training, prompts are ordered by the variance of their group's rewards (highest first) and zero-variance
prompts dropped, as in the Qwen2.5 report. Rollouts go through a `rollout_func`: with vLLM it serves the current
adapter (saved after every optimiser step, loaded under a new LoRA id); without it, align's decoder samples from a
copy of the policy with the adapter merged, re-synced every step (align.generation.rollout). `merged_rollouts:
false` leaves generation to TRL, as does an adapter the copy cannot merge exactly (e.g. LoRA on a MoE's expert
parameters; the manifest's notes say why).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import Any

from align import distributed
from align.artifacts import COMPLETIONS, PROMPT_SELECTION, write_json_atomic
from align.config.schema import GRPOStage
from align.context import StageContext, resolve_precision
from align.crashpoints import crash_point
from align.data import load_prompts
from align.errors import AlignError
from align.generation.backend import Sampler, VLLMSampler, resolve_backend
from align.generation.merged import unmergeable
from align.generation.recipe_sampler import recipe_sampler
from align.generation.rollout import MergedRollout
from align.models import load_policy, load_tokenizer
from align.rewards import reward_inputs
from align.stages.grpo.adapters import remove_rollout_adapters
from align.stages.grpo.completions import CompletionsLog, LastBatch, RecordingReward
from align.stages.grpo.online import online_filtering
from align.stages.grpo.rollout import RolloutLog, vllm_rollout
from align.stages.grpo.safe_reward import SafeReward
from align.stages.grpo.selection import select_by_variance
from align.stages.grpo.server import server_rollout
from align.stages.training import guarded_callbacks, loss_metrics, save_policy, trainer_kwargs
from reward import Dimension, aggregate, build_rewards, get_verifier

log = logging.getLogger(__name__)


def stage_rewards(
    stage: GRPOStage, reward_artifact: Path | None, policy: str | None = None
) -> tuple[list[Dimension], list[float]]:
    """The stage's reward functions in recipe order and their weights (TRL `reward_weights`)."""
    return build_rewards(stage.rewards, reward_inputs(stage.verifier, reward_artifact, policy))


def score_groups(
    functions: Sequence[Dimension], weights: Sequence[float], rows: list[dict[str, Any]], groups: list[list[str]]
) -> list[list[float | None]]:
    """Total reward of every completion, grouped per prompt, computed the way training will compute it."""
    flat_rows = [row for row, group in zip(rows, groups, strict=True) for _ in group]
    completions = [c for group in groups for c in group]
    columns = {key: [row.get(key) for row in flat_rows] for key in flat_rows[0] if key != "prompt"}
    prompts = [row["prompt"] for row in flat_rows]
    scores = {f.__name__: f(prompts, completions, **columns) for f in functions}
    named = dict(zip((f.__name__ for f in functions), weights, strict=True))
    totals = aggregate(scores, named).totals
    size = len(groups[0]) if groups else 0
    return [totals[i * size : (i + 1) * size] for i in range(len(groups))]


def saved_selection(ctx: StageContext) -> dict[str, Any] | None:
    """The selection an interrupted run of this configuration saved: re-sampling it would cost the work again,
    and on a different sampler state could pick other prompts than the checkpoint was trained on."""
    if not ctx.resuming:
        return None
    try:
        return json.loads((ctx.stage_dir / PROMPT_SELECTION).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def select_prompts(stage: GRPOStage, ctx: StageContext, sampler: Sampler | None, functions, weights, dataset):
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
    scores = distributed.gather(score_groups(functions, weights, rows, groups) if rows else [])
    selection = select_by_variance(scores, keep=spec.keep)
    stats = selection.stats()
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
    crash_point(f"{stage.name}:selection")
    if not selection.order:
        raise AlignError(
            f"stages.{stage.name}: every candidate prompt's group scored the same (no gradient); "
            "use harder/easier prompts, a higher temperature, or disable prompt_selection"
        )
    return candidates.select(selection.order), stats


def run(ctx: StageContext) -> dict[str, Any]:
    from trl import GRPOConfig, GRPOTrainer

    stage = ctx.typed_stage(GRPOStage)
    dataset = load_prompts(stage.prompts, required=get_verifier(stage.verifier).columns if stage.verifier else ())
    built, weights = stage_rewards(stage, ctx.artifact(stage.reward) if stage.reward else None, ctx.base_model)
    failures: Counter[str] = Counter()
    functions: list[Any] = [SafeReward(f, failures) for f in built]
    init = ctx.artifact(stage.init)
    precision = resolve_precision(stage.precision)
    on_server = stage.rollouts.mode == "server"
    vllm_rollouts = not on_server and resolve_backend(stage.backend) == "vllm"
    # With HF rollouts TRL generates with the training model itself, so a sampling copy is needed only to
    # score candidate prompts; loading it otherwise would cost a whole model load for nothing.
    sampler = None
    if vllm_rollouts or (stage.prompt_selection.enabled and saved_selection(ctx) is None):
        sampler = recipe_sampler(
            ctx.recipe,
            stage.backend,
            ctx.base_model,
            precision,
            init,
            dataset["prompt"],
            stage.max_completion_length,
            stage.sample_batch,
        )

    pool = dataset.to_list()  # dynamic sampling draws replacements from every prompt, dropped ones included
    selection_stats: dict[str, Any] = {}
    if stage.prompt_selection.enabled:  # a resumed run reads its saved selection; no sampler needed
        dataset, selection_stats = select_prompts(stage, ctx, sampler, functions, weights, dataset)
    ctx.notes["prompt_selection"] = selection_stats

    record = RolloutLog()
    tokenizer = load_tokenizer(ctx.base_model)
    if not isinstance(sampler, VLLMSampler):
        sampler = None  # vLLM rollouts keep their engine; an HF sampling copy is freed before training loads

    model = load_policy(
        ctx.base_model,
        precision,
        adapter=init,
        trainable=True,
        quantize=ctx.recipe.lora.quantize,
        options=ctx.recipe.model_options,
    )
    rollout = make_rollout(sampler, stage, ctx, record, tokenizer, model)
    sampler = None
    kwargs = trainer_kwargs(stage, ctx) | training_passes(stage)
    config = GRPOConfig(
        **kwargs,
        num_generations=stage.num_generations,
        max_completion_length=stage.max_completion_length,
        temperature=stage.temperature,
        top_p=stage.top_p,
        beta=stage.beta,
        loss_type=stage.loss_type,
        reward_weights=weights,
        multi_objective_aggregation=stage.aggregation,
        # The variance order is the curriculum; shuffling would undo it.
        shuffle_dataset=not stage.prompt_selection.enabled,
        use_vllm=False,
    )
    last = LastBatch()
    named_weights = dict(zip((f.__name__ for f in functions), weights, strict=True))
    trainer_class, online = online_filtering(
        stage, ctx, GRPOTrainer, pool, dataset.to_list(), lambda r, g: score_groups(functions, weights, r, g)
    )
    callbacks, guard = guarded_callbacks(stage)
    # rollout_func is how align supplies completions on purpose; TRL's "experimental" warning is not for users.
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    trainer = trainer_class(
        model=model,
        reward_funcs=[RecordingReward(f, last) for f in functions],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
        # The main process logs its own share of each step's completions (one file, one writer).
        callbacks=[
            *(
                [
                    CompletionsLog(
                        last,
                        named_weights,
                        ctx.stage_dir / COMPLETIONS,
                        ctx.tensorboard_dir / "completions" if "tensorboard" in stage.report_to else None,
                        stage.log_completions_steps,
                    )
                ]
                if distributed.is_main()
                else []
            ),
            *online,
            *callbacks,
        ],
    )
    trainer.train(resume_from_checkpoint=str(ctx.resume_from) if ctx.resume_from else None)
    guard.raise_if_stopped(ctx.checkpoint_dir)
    save_policy(trainer, tokenizer, ctx, only_default_adapter=True)
    if distributed.is_main():
        remove_rollout_adapters(ctx.stage_dir)
    history = trainer.state.log_history
    metrics = (
        loss_metrics(history)
        | reward_metrics(history, [f.__name__ for f in functions])
        | {
            "steps": trainer.state.global_step,
            "prompts_trained": len(dataset),
            "rollout_backend": "server" if on_server else "vllm" if vllm_rollouts else "hf",
            **guard.metrics(),
            "reward_failures": dict(sorted(failures.items())),
            "reward_flags": reward_flags(built),
        }
    )
    return metrics | rollout_metrics(rollout, record)


def training_passes(stage: GRPOStage) -> dict[str, int]:
    """TRL's batch arguments for a step of `rows_per_step` completions trained `batch_size` at a time: TRL
    generates per_device_train_batch_size x steps_per_generation (= gradient_accumulation_steps) completions at
    once and splits them into that many passes, so the generation batch, and the update, stay one step's."""
    return {
        "per_device_train_batch_size": stage.rows_per_pass,
        "per_device_eval_batch_size": stage.rows_per_pass,
        "gradient_accumulation_steps": stage.passes_per_step,
    }


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
    )


def rollout_metrics(rollout, record: RolloutLog) -> dict[str, Any]:
    if isinstance(rollout, MergedRollout):
        return {"rollout_engine": "merged"} | rollout.metrics()
    return record.metrics() if rollout else {}


def reward_flags(functions: list[Any]) -> dict[str, int]:
    """Scores that stood but were flagged (a verifier's `sandbox_unisolated`, ...), per reward function."""
    counts = {f"{f.__name__}/{flag}": n for f in functions for flag, n in (getattr(f, "flags", None) or {}).items()}
    return dict(sorted(counts.items()))


def reward_metrics(history: list[dict[str, Any]], names: list[str]) -> dict[str, float]:
    """First-half vs second-half mean of each logged reward: did it rise over training?"""
    metrics: dict[str, float] = {}
    for key in ["reward", *(f"rewards/{n}/mean" for n in names)]:
        values = [e[key] for e in history if key in e]
        if not values:
            continue
        label = key.removeprefix("rewards/").removesuffix("/mean")
        half = max(1, len(values) // 2)
        metrics[f"{label}_first_half"] = float(mean(values[:half]))
        metrics[f"{label}_second_half"] = float(mean(values[half:] or values[-1:]))
    return metrics
