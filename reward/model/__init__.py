"""The six-head reward model: one score per reward dimension from a shared fine-tuned backbone.

Entry points: `train_reward_model(...)` trains and saves one; `RewardModel.load(folder).score(...)` scores
with a saved one; `reward.dimensions.model_dimensions(folder)` turns one into TRL reward functions.
The torch-backed names load on first use, so reading a config or the CLI's input checks stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reward.model.artifact import NotARewardModelError, RewardConfig

if TYPE_CHECKING:
    from reward.model.score import RewardModel
    from reward.model.train import train_reward_model

__all__ = ["NotARewardModelError", "RewardConfig", "RewardModel", "train_reward_model"]


def __getattr__(name: str) -> Any:
    if name == "RewardModel":
        from reward.model.score import RewardModel

        return RewardModel
    if name == "train_reward_model":
        from reward.model.train import train_reward_model

        return train_reward_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
