"""Checkpoints of the reward model's training loop, so an interrupted reward stage resumes where it stopped.

One file, `reward-state.pt`, replaced atomically every `save_steps` steps: weights, optimiser and schedule,
both random generators and the batches left in the current epoch. Resuming from it continues the very run an
uninterrupted one would have made (same batches in the same order, same dropout masks).
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

STATE = "reward-state.pt"


@dataclass
class Checkpointing:
    folder: Path | None = None  # None: no checkpoints
    save_steps: int = 200
    on_save: Callable[[], None] | None = None  # called after each save (the resume tests kill the run there)
    on_step: Callable[[], None] | None = None  # called after each optimiser step, before its save (the same)
    on_nonfinite: str = "stop"  # stop | skip, as for the Trainer stages
    skipped: int = 0


class NonFiniteLossError(ValueError):
    """The loss or a gradient became NaN/inf and the recipe asked to stop."""


class LoopState:
    """What the training loop carries from step to step, and how it is saved, restored and guarded."""

    def __init__(
        self, network: Any, optimizer: Any, schedule: Any, rng: random.Random, rows: Sequence[Any], keep: Checkpointing
    ):
        self.network, self.optimizer, self.schedule, self.rng, self.rows, self.keep = (
            network,
            optimizer,
            schedule,
            rng,
            rows,
            keep,
        )
        self.step = 0
        self.batches: list[list[Any]] = []
        self.losses: list[float] = []
        self._position = {id(row): i for i, row in enumerate(rows)}

    def restore(self) -> None:
        path = self.keep.folder / STATE if self.keep.folder else None
        if path is None or not path.is_file():
            return
        # weights_only: a run folder is data, and unpickling it could run whatever code was put there.
        try:
            state = torch.load(path, weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"{path}: not a reward-model checkpoint ({first}); delete it to train afresh") from None
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step = state["step"]
        self.batches = [[self.rows[i] for i in batch] for batch in state["batches"]]
        self.losses = list(state["losses"])

    def save(self, step: int) -> None:
        assert self.keep.folder is not None
        self.keep.folder.mkdir(parents=True, exist_ok=True)
        state = {
            "step": step,
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rng": self.rng.getstate(),
            "torch_rng": torch.get_rng_state(),
            "batches": [[self._position[id(row)] for row in batch] for batch in self.batches],
            "losses": self.losses,
        }
        tmp = self.keep.folder / f".{STATE}.tmp"
        torch.save(state, tmp)
        tmp.replace(self.keep.folder / STATE)  # whole or absent: a kill mid-save leaves the previous state

    def maybe_save(self, done: int, total: int) -> None:
        if self.keep.on_step is not None:
            self.keep.on_step()
        if self.keep.folder is not None and done % self.keep.save_steps == 0 and done < total:
            self.save(done)
            if self.keep.on_save is not None:
                self.keep.on_save()

    def nonfinite(self, step: int, batch: list[Any]) -> None:
        """A NaN/inf loss or gradient at `step`: drop the step (counted), or save and raise, as the recipe says."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.keep.on_nonfinite == "skip":
            self.keep.skipped += 1
            self.schedule.step()
            return
        where = "no checkpoint (set save_steps)"
        if self.keep.folder is not None:
            self.batches.append(batch)  # the bad batch comes first again on resume
            self.save(step)
            where = f"a checkpoint in {self.keep.folder}"
        raise NonFiniteLossError(
            f"loss or gradient became NaN/inf at step {step + 1}; stopped with {where} "
            "(lower learning_rate or set on_nonfinite: skip, then re-run to resume)"
        )


def finite(loss: torch.Tensor, parameters: Any) -> bool:
    if not bool(torch.isfinite(loss)):
        return False
    return all(bool(p.grad.isfinite().all()) for p in parameters if p.grad is not None)
