"""What a rollout_func records for the manifest, whichever engine samples: the evidence that it ran, and what
each adapter sync and the sampling cost. Shared so the three rollouts report the same keys."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from statistics import mean
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class RolloutLog:
    sync_steps: list[int] = field(default_factory=list)
    sync_s: list[float] = field(default_factory=list)
    sample_s: float = 0.0
    completions: int = 0

    def sync_once_per_step(self, step: int, sync: Callable[[], object]) -> None:
        """Run `sync` (push the trained adapter to the sampler) the first time a step rolls out, timed.

        Also at the very first rollout: on resume the trainer's adapter is a checkpoint's, not the init's. Within a
        step every rollout samples the same weights, so a second sync would only cost time."""
        if self.sync_steps and self.sync_steps[-1] == step:
            return
        started = time.monotonic()
        sync()
        self.sync_s.append(time.monotonic() - started)
        self.sync_steps.append(step)

    @contextmanager
    def sampling(self) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.sample_s += time.monotonic() - started

    def metrics(self) -> dict[str, Any]:
        return {
            "adapter_syncs": len(self.sync_s),
            "adapter_sync_steps": self.sync_steps,
            "adapter_sync_s_mean": round(mean(self.sync_s), 3) if self.sync_s else None,
            "adapter_sync_s_max": round(max(self.sync_s), 3) if self.sync_s else None,
            "rollout_completions": self.completions,
            "rollout_samples_per_s": round(self.completions / self.sample_s, 2) if self.sample_s else None,
        }


def group_heads(prompts: list[T], n: int) -> list[T]:
    """One prompt per group: TRL repeats each prompt n times in a row, and every engine samples a group of n from one
    prompt faster (one prefill, one shared cache) than n copies of it."""
    return prompts[::n]
