"""SFT: LoRA fine-tuning on chat data with the loss on the answer only, for outputs up to 8K tokens and beyond."""

from __future__ import annotations

import logging
from typing import Any

from align.config.schema import SFTStage
from align.context import StageContext, resolve_precision
from align.data import load_chat
from align.models import load_policy, load_tokenizer, lora_config
from align.stages.training import loss_metrics, save_log_history, trainer_kwargs

log = logging.getLogger(__name__)


def count_truncated(dataset, tokenizer, max_length: int) -> int:
    """Rows whose full conversation is longer than max_length: TRL cuts them silently, so say how many."""

    def length(batch: dict[str, list]) -> dict[str, list[int]]:
        ids = [
            tokenizer.apply_chat_template(p + c, tokenize=True, return_dict=False)
            for p, c in zip(batch["prompt"], batch["completion"], strict=True)
        ]
        return {"n_tokens": [len(i) for i in ids]}

    lengths = dataset.map(length, batched=True, remove_columns=dataset.column_names)["n_tokens"]
    return sum(n > max_length for n in lengths)


def run(ctx: StageContext) -> dict[str, Any]:
    from trl import SFTConfig, SFTTrainer

    stage = ctx.typed_stage(SFTStage)
    tokenizer = load_tokenizer(ctx.base_model)
    train = load_chat(stage.data)
    evaluation = load_chat(stage.eval_data) if stage.eval_data else None
    truncated = count_truncated(train, tokenizer, stage.max_length)
    if truncated:
        log.warning(
            "%d of %d rows are longer than max_length=%d and will be cut",
            truncated,
            len(train),
            stage.max_length,
        )

    init = ctx.artifact(stage.init) if stage.init else None
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
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=None if init else lora_config(ctx.recipe.lora),
    )
    trainer.train(resume_from_checkpoint=str(ctx.resume_from) if ctx.resume_from else None)
    trainer.save_model(str(ctx.stage_dir))
    tokenizer.save_pretrained(str(ctx.stage_dir))
    save_log_history(trainer, ctx)
    return {
        **loss_metrics(trainer.state.log_history),
        "train_rows": len(train),
        "truncated_rows": truncated,
        "steps": trainer.state.global_step,
    }
