"""What align hands `reward.build_rewards` besides the specs: model-name resolution, the policy, the device.

One place, so GRPO, `align reward score` and evaluation build hub and judge rewards the same way.
"""

from __future__ import annotations

from pathlib import Path

from align.models.load import resolve_model
from align.runtime.devices import current_placement
from reward import SourceInputs


def reward_inputs(verifier: str | None, reward_model: Path | None, policy: str | None) -> SourceInputs:
    return SourceInputs(
        verifier=verifier,
        reward_model=reward_model,
        resolve_model=resolve_model,
        policy_model=policy,
        device=current_placement().reward,
    )
