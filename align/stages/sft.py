"""SFT: LoRA fine-tuning on chat data with the loss on the answer only, for outputs up to 8K tokens and beyond."""

from __future__ import annotations

import logging
from typing import Any

from align.agents.demonstrations import tool_demonstrations
from align.config.schema import SFTStage
from align.data.load import load_chat, load_located_rows
from align.models.load import load_policy, load_tokenizer, lora_config
from align.runtime.context import StageContext, resolve_precision
from align.stages.cuts import check_cuts, too_long
from align.stages.init_adapter import init_adapter
from align.stages.results import SFTResult
from align.stages.speed import sft_speed
from align.stages.training import guarded_callbacks, loss_metrics, save_policy, trainer_kwargs

log = logging.getLogger(__name__)


def run(ctx: StageContext) -> SFTResult:
    from trl import SFTTrainer

    stage = ctx.typed_stage(SFTStage)
    tokenizer = load_tokenizer(ctx.base_model)
    if stage.tools:  # multi-turn tool conversations, the loss on the assistant's turns (align.agents)
        train, evaluation, long_rows = tool_demonstrations(stage, tokenizer)
    else:
        train = load_chat(stage.data)
        evaluation = load_chat(stage.eval_data) if stage.eval_data else None
        long_rows = too_long(train, tokenizer, stage.max_length)
    truncated = check_cuts(
        long_rows,
        len(train),
        stage.max_length,
        stage.data.strict,
        lambda i: load_located_rows(stage.data)[i][0],
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
    callbacks, guard = guarded_callbacks(stage)
    trainer = SFTTrainer(
        model=model,
        callbacks=callbacks,
        args=sft_config(stage, ctx, speed_config),
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=None if init else lora_config(ctx.recipe.lora),
        **speed_trainer,
    )
    trainer.train(resume_from_checkpoint=str(ctx.resume_from) if ctx.resume_from else None)
    guard.raise_if_stopped(ctx.checkpoint_dir)
    save_policy(trainer, tokenizer, ctx)
    return SFTResult(
        losses=loss_metrics(trainer.state.log_history),
        train_rows=len(train),
        truncated_rows=truncated,
        steps=trainer.state.global_step,
        guard=guard.counts(),
    )


def sft_config(stage: SFTStage, ctx: StageContext, speed_config: dict[str, Any]):
    from trl import SFTConfig

    return SFTConfig(
        **trainer_kwargs(stage, ctx),
        max_length=stage.max_length,
        packing=stage.packing,
        # The loss on the answer only: the prompt is given, not something the policy should learn to write.
        completion_only_loss=True,
        dataset_num_proc=None,
        **speed_config,
    )
