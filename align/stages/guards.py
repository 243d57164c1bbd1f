"""Trainer callbacks every training stage installs: a non-finite guard and the crash points of the resume tests."""

from __future__ import annotations

import logging

from transformers import TrainerCallback

from align.runtime.crashpoints import crash_point
from align.runtime.errors import AlignError
from align.stages.results import GuardCounts

log = logging.getLogger(__name__)


class NonFiniteGuard(TrainerCallback):
    """Checks the gradients before each optimiser step (a NaN/inf loss makes them non-finite too).

    skip: the step's gradients are dropped (torch optimisers leave a parameter without a gradient untouched), so
    the weights never see the bad batch; each skip is counted. stop: the same, then a checkpoint of the last good
    weights is saved and training ends; `raise_if_stopped` turns that into a one-line error after the Trainer
    has returned, so the run folder holds a checkpoint that the same command resumes from.
    """

    def __init__(self, action: str, stage: str):
        self.action, self.stage = action, stage
        self.skipped = 0
        self.stopped_at: int | None = None
        self.first_step = 1

    def on_train_begin(self, args, state, control, **kwargs):
        # After a resumed checkpoint is loaded: the manifest's proof that a re-run continued rather than restarted.
        self.first_step = state.global_step + 1
        return control

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        params = [p for p in model.parameters() if p.grad is not None]
        if all(bool(p.grad.isfinite().all()) for p in params):
            return control
        for p in params:
            p.grad = None
        step = state.global_step + 1
        if self.action == "skip":
            self.skipped += 1
            log.warning(
                "stage %s: non-finite gradient at step %d; step skipped (%d so far)", self.stage, step, self.skipped
            )
            return control
        self.stopped_at = step
        control.should_save = True
        control.should_training_stop = True
        return control

    def raise_if_stopped(self, checkpoint_dir) -> None:
        if self.stopped_at is not None:
            raise AlignError(
                f"stages.{self.stage}: loss or gradient became NaN/inf at step {self.stopped_at}; stopped with a "
                f"checkpoint in {checkpoint_dir} (lower learning_rate or set on_nonfinite: skip, then re-run to resume)"
            )

    def counts(self) -> GuardCounts:
        return GuardCounts(nonfinite_steps_skipped=self.skipped, first_step=self.first_step)


class CrashPoints(TrainerCallback):
    def __init__(self, stage: str):
        self.stage = stage

    def on_step_end(self, args, state, control, **kwargs):
        crash_point(f"{self.stage}:step")
        return control

    def on_save(self, args, state, control, **kwargs):
        crash_point(f"{self.stage}:checkpoint")
        return control
