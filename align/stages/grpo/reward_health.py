"""A reward source that keeps failing stops GRPO with a checkpoint, instead of training on without it.

SafeReward turns a failing call into None scores, so one bad batch costs one batch. But a judge whose server is
down, or a reward model out of memory, fails on every step: the run would train to the end on its other rewards,
hours of GPU spent on a reward the user did not ask for. Before each optimiser step this guard looks at every
source's calls since the last step; when one failed on more than `reward_failure_limit.share` of them, or failed
on some in `reward_failure_limit.steps` steps in a row, the step's gradients are dropped (the weights never see
it), a checkpoint is saved and training ends; `raise_if_stopped` then names the source and its last failure in
one `error:` line, and the same command resumes from the checkpoint once the source is fixed.

Under several ranks each rank scores its own completions: the windows are gathered so that every rank reaches
the same verdict (a rank stopping alone would leave the others waiting forever).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from transformers import TrainerCallback

from align.config.schema import RewardFailureLimit
from align.runtime import distributed
from align.runtime.errors import AlignError
from align.stages.grpo.safe_reward import SafeReward

log = logging.getLogger(__name__)


class RewardHealth(TrainerCallback):
    def __init__(self, rewards: Sequence[object], limit: RewardFailureLimit, stage: str):
        # The stage's reward functions; only SafeReward-wrapped ones (all of GRPO's) count their calls.
        self.rewards = [r for r in rewards if isinstance(r, SafeReward)]
        self.limit, self.stage = limit, stage
        self.in_row: Counter[str] = Counter()
        self.verdict: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.limit.share or self.limit.steps)

    def check(self) -> str | None:
        """Why training must stop now, or None; every rank must call it at the same point (it gathers)."""
        if not self.enabled:
            return None
        windows = distributed.gather([{r.__name__: r.take_window() for r in self.rewards}])
        for reward in self.rewards:
            name = reward.__name__
            seen = [w[name] for w in windows]
            scored, failed = sum(s for s, _, _ in seen), sum(f for _, f, _ in seen)
            if not scored:  # no call since the last step (a generation reused over several steps)
                continue
            self.in_row[name] = self.in_row[name] + 1 if failed else 0
            last = next((e for _, f, e in reversed(seen) if f), None)
            where = f"stages.{self.stage}.rewards.{name}"
            if self.limit.share and failed > self.limit.share * scored:
                return (
                    f"{where}: failed on {failed} of {scored} completions (more than reward_failure_limit.share="
                    f"{self.limit.share:g}); last failure: {last}"
                )
            if self.limit.steps and self.in_row[name] >= self.limit.steps:
                return (
                    f"{where}: failed in {self.in_row[name]} steps in a row (reward_failure_limit.steps="
                    f"{self.limit.steps}); last failure: {last}"
                )
        return None

    def raise_if_failing(self, when: str) -> None:
        """Before training (prompt selection scores with every source): nothing to checkpoint yet, so stop now."""
        reason = self.check()
        if reason is not None:
            raise AlignError(f"{reason} (during {when}; fix the source, or set reward_failure_limit.share: 0)")

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        reason = self.check()
        if reason is None:
            return control
        for p in model.parameters():
            p.grad = None  # the step scored without this source never reaches the weights
        self.verdict = f"{reason}; at step {state.global_step + 1}"
        log.error("%s: stopping with a checkpoint", self.verdict)
        control.should_save = True
        control.should_training_stop = True
        return control

    def raise_if_stopped(self, checkpoint_dir: Path) -> None:
        if self.verdict is not None:
            raise AlignError(
                f"{self.verdict}; stopped with a checkpoint in {checkpoint_dir} (fix the source and re-run to "
                "resume, or set reward_failure_limit.share: 0 and steps: 0 to train on without it)"
            )
