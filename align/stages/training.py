"""The TrainingArguments every trainer stage shares, built from a recipe stage in one place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from align.artifacts.contract import LOG_HISTORY, write_json_atomic
from align.config.schema import TrainStage
from align.runtime import distributed
from align.runtime.context import StageContext, has_gpu, resolve_precision
from align.stages.guards import CrashPoints, NonFiniteGuard
from align.stages.results import Losses


def trainer_kwargs(stage: TrainStage, ctx: StageContext) -> dict[str, Any]:
    """Keyword arguments common to SFTConfig, DPOConfig and GRPOConfig."""
    precision = resolve_precision(stage.precision)
    gpu = has_gpu()
    # transformers reads the TensorBoard folder from the environment only; one stage runs at a time.
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(ctx.tensorboard_dir)
    evaluating = getattr(stage, "eval_data", None) is not None
    return {
        "output_dir": str(ctx.checkpoint_dir),
        "learning_rate": stage.learning_rate,
        "num_train_epochs": stage.epochs,
        "max_steps": stage.max_steps or -1,
        "per_device_train_batch_size": stage.batch_size,
        "per_device_eval_batch_size": stage.batch_size,
        "gradient_accumulation_steps": stage.grad_accum,
        "warmup_steps": stage.warmup_ratio,
        "lr_scheduler_type": stage.lr_scheduler,
        "weight_decay": stage.weight_decay,
        "max_grad_norm": stage.max_grad_norm,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": not gpu,
        "gradient_checkpointing": gpu if stage.gradient_checkpointing is None else stage.gradient_checkpointing,
        "logging_steps": stage.logging_steps,
        "logging_first_step": True,
        "save_steps": stage.save_steps,
        "save_total_limit": stage.keep_checkpoints,
        "eval_strategy": ("steps" if stage.eval_steps else "epoch") if evaluating else "no",
        "eval_steps": stage.eval_steps,
        "report_to": stage.report_to or "none",
        "seed": stage.seed,
        "dataloader_pin_memory": gpu,
    }


def save_adapter(trainer: Any, folder: Path) -> None:
    """The trained LoRA adapter only (a PeftModel's save_pretrained), as later stages and vLLM load it."""
    trainer.model.save_pretrained(str(folder), selected_adapters=["default"])


def save_log_history(trainer, ctx: StageContext) -> None:
    """The Trainer's log history beside the adapter, so reports need no checkpoint folders."""
    if distributed.is_main():
        write_json_atomic(ctx.stage_dir / LOG_HISTORY, trainer.state.log_history)


def save_policy(trainer, tokenizer, ctx: StageContext, only_default_adapter: bool = False) -> None:
    """The trained adapter, tokenizer and log history as the stage's artifact, written by the main process.

    Under FSDP or DeepSpeed the weights are sharded across ranks: Trainer.save_model gathers them (every rank
    must call it; the main one writes). Otherwise the main process saves the adapter itself, and
    `only_default_adapter` leaves out the frozen "ref" copy DPO/GRPO train against (it is the init artifact).
    """
    folder = str(ctx.stage_dir)
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled or not only_default_adapter:
        trainer.save_model(folder)
    elif distributed.is_main():
        save_adapter(trainer, ctx.stage_dir)
    if distributed.is_main():
        tokenizer.save_pretrained(folder)
    save_log_history(trainer, ctx)


def loss_metrics(log_history: list[dict[str, Any]]) -> Losses:
    """The losses the manifest records, read from the Trainer's log history."""
    losses = [float(entry["loss"]) for entry in log_history if "loss" in entry]
    evals = [float(entry["eval_loss"]) for entry in log_history if "eval_loss" in entry]
    summary: dict[str, Any] = next((e for e in reversed(log_history) if "train_runtime" in e), {})
    return Losses(
        loss_first=losses[0] if losses else None,
        loss_last=losses[-1] if losses else None,
        eval_loss=evals[-1] if evals else None,
        train_runtime=float(summary["train_runtime"]) if "train_runtime" in summary else None,
        train_loss=float(summary["train_loss"]) if "train_loss" in summary else None,
    )


def guarded_callbacks(stage: TrainStage) -> tuple[list, NonFiniteGuard]:
    """The callbacks every trainer stage installs, and the guard whose verdict the stage checks after training."""
    guard = NonFiniteGuard(stage.on_nonfinite, stage.name)
    return [guard, CrashPoints(stage.name)], guard


def load_resumed_adapter(model, checkpoint: Path | None) -> None:
    """Put a checkpoint's trained adapter back before resuming.

    When a PEFT checkpoint has adapter sub-folders (DPO's frozen "ref" copy is one), the Trainer reloads only
    those and skips the trained "default" adapter saved at the top, so a resumed DPO run would silently continue
    from its init weights. Loading it here makes the resumed run equal an uninterrupted one.
    """
    weights = checkpoint / "adapter_model.safetensors" if checkpoint else None
    if weights is None or not weights.is_file():
        return
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(weights), adapter_name="default")
