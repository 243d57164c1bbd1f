"""DPO on the pairs a `pairs` stage built, or on the user's own preference data (`align.data.preferences`),
continuing the init adapter against a frozen copy of it (or, without init, a fresh adapter against the base).

TRL, given a PeftModel that already carries an adapter, adds a frozen "ref" copy of that adapter and computes
reference log-probs through it: the reference is the SFT policy itself, on the same base weights — no second model.
"""

from __future__ import annotations

from typing import Any

from align.artifacts.contract import PAIRS_FILE
from align.config.schema import DataSpec, DPOStage
from align.data.load import load_located_rows, load_rows
from align.data.preferences import preference_rows
from align.models.load import load_tokenizer
from align.runtime import distributed
from align.runtime.context import StageContext, resolve_precision
from align.runtime.errors import AlignError
from align.stages.cuts import check_cuts, too_long
from align.stages.init_adapter import init_adapter, trainable_policy
from align.stages.results import DPOResult
from align.stages.speed import dpo_speed_kwargs
from align.stages.training import (
    guarded_callbacks,
    load_resumed_adapter,
    loss_metrics,
    save_policy,
    trainer_kwargs,
)

PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")


def logged(log_history: list[dict[str, Any]], key: str) -> list[float]:
    return [float(entry[key]) for entry in log_history if key in entry]


def mean_of(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def preference_data(stage: DPOStage, ctx: StageContext) -> list[dict[str, Any]]:
    """A pairs stage's pairs.jsonl, or the user's preference rows (validated, normalised the same way)."""
    if isinstance(stage.pairs, DataSpec):
        return preference_rows(load_rows(stage.pairs), stage.pairs.path)
    pairs_file = ctx.artifact(stage.pairs) / PAIRS_FILE
    rows = [{c: r[c] for c in PREFERENCE_COLUMNS} for r in load_rows(DataSpec(path=str(pairs_file)))]
    if not rows:
        raise AlignError(f"{pairs_file}: no pairs to train on")
    return rows


def pairs_location(stage: DPOStage, ctx: StageContext, index: int) -> str:
    if isinstance(stage.pairs, DataSpec):
        return load_located_rows(stage.pairs)[index][0]
    return f"{ctx.artifact(stage.pairs) / PAIRS_FILE}: row {index + 1}"


def run(ctx: StageContext) -> DPOResult:
    from datasets import Dataset
    from trl import DPOTrainer

    stage = ctx.typed_stage(DPOStage)
    rows = preference_data(stage, ctx)
    init = init_adapter(ctx, stage.init)
    tokenizer = load_tokenizer(ctx.base_model)
    dataset = Dataset.from_list(rows)
    truncated = check_cuts(
        too_long(dataset, tokenizer, stage.max_length, completions=("chosen", "rejected")),
        len(rows),
        stage.max_length,
        isinstance(stage.pairs, DataSpec) and stage.pairs.strict,
        lambda i: pairs_location(stage, ctx, i),
    )
    model = trainable_policy(ctx, init, resolve_precision(stage.precision))
    callbacks, guard = guarded_callbacks(stage)
    trainer = DPOTrainer(
        model=model,
        args=dpo_config(stage, ctx),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    load_resumed_adapter(trainer.model, ctx.resume_from)
    trainer.train(resume_from_checkpoint=str(ctx.resume_from) if ctx.resume_from else None)
    guard.raise_if_stopped(ctx.checkpoint_dir)
    # Save only the trained policy: the frozen "ref" copy is the init stage's adapter, already on disk.
    save_policy(trainer, tokenizer, ctx, only_default_adapter=True)
    history = trainer.state.log_history
    accuracies, margins = logged(history, "rewards/accuracies"), logged(history, "rewards/margins")
    ctx.notes["reference"] = (
        f"frozen copy of the '{stage.init}' adapter ({init})" if init else "the base model (a fresh adapter)"
    )
    return DPOResult(
        losses=loss_metrics(history),
        pairs=len(rows),
        truncated_rows=truncated,
        steps=trainer.state.global_step,
        reward_accuracy_first=accuracies[0] if accuracies else None,
        reward_accuracy_last=accuracies[-1] if accuracies else None,
        reward_accuracy_mean=mean_of(accuracies),
        reward_margin_mean=mean_of(margins),
        reward_margin_last=margins[-1] if margins else None,
        init_artifact=str(init) if init else None,
        guard=guard.counts(),
    )


def dpo_config(stage: DPOStage, ctx: StageContext):
    from trl import DPOConfig

    # TRL 1.16 hands the precomputed log-probs from the main process to the others through a datasets cache file
    # whose path, for an in-memory dataset, is a random name in each process's own temporary folder: the other
    # ranks then fail to open it. Several processes compute the reference per step instead.
    precompute = stage.precompute_ref and not distributed.launched()
    if stage.precompute_ref and not precompute:
        ctx.notes["precompute_ref"] = "off: not supported by TRL with several processes"
    return DPOConfig(
        **trainer_kwargs(stage, ctx),
        max_length=stage.max_length,
        beta=stage.beta,
        loss_type=stage.losses,
        loss_weights=stage.loss_weights,
        **dpo_speed_kwargs(precompute_ref=precompute, batch_size=stage.batch_size),
    )
