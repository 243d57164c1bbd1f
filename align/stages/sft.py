"""SFT: LoRA fine-tuning on chat data with the loss on the answer only, for outputs up to 8K tokens and beyond."""

from __future__ import annotations

import logging
from typing import Any

from align.config.schema import SFTStage
from align.data.load import load_chat, load_located_rows
from align.models.load import load_policy, load_tokenizer, lora_config
from align.runtime.context import StageContext, resolve_precision
from align.runtime.errors import AlignError
from align.stages.init_adapter import init_adapter
from align.stages.speed import sft_speed
from align.stages.training import guarded_callbacks, loss_metrics, save_policy, trainer_kwargs

log = logging.getLogger(__name__)


def too_long(dataset, tokenizer, max_length: int) -> list[int]:
    """Indices of rows whose full conversation is longer than max_length: TRL cuts them silently."""

    def length(batch: dict[str, list]) -> dict[str, list[int]]:
        ids = [
            tokenizer.apply_chat_template(p + c, tokenize=True, return_dict=False)
            for p, c in zip(batch["prompt"], batch["completion"], strict=True)
        ]
        return {"n_tokens": [len(i) for i in ids]}

    lengths = dataset.map(length, batched=True, remove_columns=dataset.column_names)["n_tokens"]
    return [i for i, n in enumerate(lengths) if n > max_length]


def run(ctx: StageContext) -> dict[str, Any]:
    from trl import SFTConfig, SFTTrainer

    stage = ctx.typed_stage(SFTStage)
    tokenizer = load_tokenizer(ctx.base_model)
    train = load_chat(stage.data)
    evaluation = load_chat(stage.eval_data) if stage.eval_data else None
    long_rows = too_long(train, tokenizer, stage.max_length)
    truncated = len(long_rows)
    if long_rows and stage.data.strict:
        where = load_located_rows(stage.data)[long_rows[0]][0]
        raise AlignError(
            f"{where}: longer than max_length={stage.max_length} tokens ({truncated} such rows; strict: true "
            "on the data spec makes this an error instead of cutting them)"
        )
    if truncated:
        log.warning(
            "%d of %d rows are longer than max_length=%d and will be cut",
            truncated,
            len(train),
            stage.max_length,
        )

    init = init_adapter(ctx, stage.init)
    speed_config, speed_trainer = sft_speed(tokenizer.pad_token_id, padding_free=stage.padding_free, liger=stage.liger)
    model = load_policy(
        ctx.base_model,
        resolve_precision(stage.precision),
        adapter=init,
        trainable=True,
        quantize=ctx.recipe.lora.quantize,
        options=ctx.recipe.model_options,
    )
    config = SFTConfig(
        **trainer_kwargs(stage, ctx),
        max_length=stage.max_length,
        packing=stage.packing,
        completion_only_loss=True,
        dataset_num_proc=None,
        **speed_config,
    )
    callbacks, guard = guarded_callbacks(stage)
    trainer = SFTTrainer(
        model=model,
        callbacks=callbacks,
        args=config,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=None if init else lora_config(ctx.recipe.lora),
        **speed_trainer,
    )
    trainer.train(resume_from_checkpoint=str(ctx.resume_from) if ctx.resume_from else None)
    guard.raise_if_stopped(ctx.checkpoint_dir)
    save_policy(trainer, tokenizer, ctx)
    return {
        **loss_metrics(trainer.state.log_history),
        "train_rows": len(train),
        "truncated_rows": truncated,
        "steps": trainer.state.global_step,
        **guard.metrics(),
    }
