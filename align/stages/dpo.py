"""DPO on the pairs a `pairs` stage built, or on the user's own preference data (`align.data.preferences`),
continuing the init adapter against a frozen copy of it (or, without init, a fresh adapter against the base).
With `tools`, the pairs are tool conversations (docs/agents.md, "DPO on tool conversations").

TRL, given a PeftModel that already carries an adapter, adds a frozen "ref" copy of that adapter and computes
reference log-probs through it: the reference is the SFT policy itself, on the same base weights — no second model.
"""

from __future__ import annotations

from typing import Any

from align.agents.demonstrations import tool_setup
from align.agents.preferences import ToolPreferenceCollator, tokenize_preferences
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
from align.stages.trl_private import with_tokenized_rows

PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")


def logged(log_history: list[dict[str, Any]], key: str) -> list[float]:
    return [float(entry[key]) for entry in log_history if key in entry]


def mean_of(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def preference_data(stage: DPOStage, ctx: StageContext, tools: list[str] | None = None) -> list[dict[str, Any]]:
    """A pairs stage's pairs.jsonl, or the user's preference rows (validated, normalised the same way); with `tools`,
    tool conversations whose calls may use those tool names."""
    if isinstance(stage.pairs, DataSpec):
        return preference_rows(load_rows(stage.pairs), stage.pairs.path, tools)
    pairs_file = ctx.artifact(stage.pairs) / PAIRS_FILE
    rows = [{c: r[c] for c in PREFERENCE_COLUMNS} for r in load_rows(DataSpec(path=str(pairs_file)))]
    if not rows:
        raise AlignError(f"{pairs_file}: no pairs to train on")
    return preference_rows(rows, str(pairs_file), tools) if tools else rows


def training_inputs(stage: DPOStage, ctx: StageContext, tokenizer: Any) -> tuple[Any, int, list[int], type, Any]:
    """(the dataset TRL trains on, its number of pairs, the indices of pairs longer than max_length, the trainer
    class, its collator). With `tools`, align tokenises the pairs itself so that tool results inside a completion
    stay out of the log-probs (align.agents.preferences); without, TRL renders the conversational rows."""
    from datasets import Dataset
    from trl import DPOTrainer

    if not stage.tools:
        rows = preference_data(stage, ctx)
        dataset = Dataset.from_list(rows)
        long_rows = too_long(dataset, tokenizer, stage.max_length, completions=("chosen", "rejected"))
        return dataset, len(rows), long_rows, DPOTrainer, None
    names, schemas, template = tool_setup(stage, tokenizer)
    rows = preference_data(stage, ctx, names)
    tokenized, long_rows = tokenize_preferences(rows, tokenizer, schemas, stage.max_length)
    ctx.notes["tools"] = {"tools": names, "chat_template": template}
    collator = ToolPreferenceCollator(pad_token_id=tokenizer.pad_token_id, max_length=stage.max_length)
    return Dataset.from_list(tokenized), len(rows), long_rows, with_tokenized_rows(DPOTrainer), collator


def pairs_location(stage: DPOStage, ctx: StageContext, index: int) -> str:
    if isinstance(stage.pairs, DataSpec):
        return load_located_rows(stage.pairs)[index][0]
    return f"{ctx.artifact(stage.pairs) / PAIRS_FILE}: row {index + 1}"


def run(ctx: StageContext) -> DPOResult:
    stage = ctx.typed_stage(DPOStage)
    tokenizer = load_tokenizer(ctx.base_model)
    dataset, pairs, long_rows, trainer_class, collator = training_inputs(stage, ctx, tokenizer)
    init = init_adapter(ctx, stage.init)
    truncated = check_cuts(
        long_rows,
        pairs,
        stage.max_length,
        isinstance(stage.pairs, DataSpec) and stage.pairs.strict,
        lambda i: pairs_location(stage, ctx, i),
    )
    model = trainable_policy(ctx, init, resolve_precision(stage.precision))
    callbacks, guard = guarded_callbacks(stage)
    trainer = trainer_class(
        model=model,
        args=dpo_config(stage, ctx),
        train_dataset=dataset,
        processing_class=tokenizer,
        data_collator=collator,
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
        pairs=pairs,
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
        # The collator of a stage with tools reads each completion's mask, a column TRL would otherwise drop.
        remove_unused_columns=not stage.tools,
        **dpo_speed_kwargs(precompute_ref=precompute, batch_size=stage.batch_size),
    )
