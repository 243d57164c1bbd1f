"""GRPO (`align.stages.grpo.stage`): groups of completions per prompt, scored by verifiers and reward dimensions,
prompts ordered by reward variance, trained with TRL; rollouts in `align.stages.grpo.rollouts`."""

from align.stages.grpo.stage import run

__all__ = ["run"]
