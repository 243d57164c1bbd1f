"""The reward model's checkpoint round-trips through torch.load(weights_only=True): nothing in it needs pickle."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from reward.model.resume import STATE, Checkpointing, LoopState


def loop(folder: Path) -> LoopState:
    torch.manual_seed(0)
    network = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(network.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (step + 1))
    return LoopState(network, optimizer, schedule, random.Random(1), ["a", "b", "c"], Checkpointing(folder))


def test_a_saved_state_restores_under_weights_only(tmp_path: Path):
    first = loop(tmp_path)
    first.network(torch.ones(1, 3)).sum().backward()
    first.optimizer.step()
    first.schedule.step()
    first.rng.random()
    first.batches, first.losses = [[first.rows[2], first.rows[0]]], [0.5]
    first.save(1)

    second = loop(tmp_path)
    second.restore()
    assert second.step == 1 and second.batches == [["c", "a"]] and second.losses == [0.5]
    assert torch.equal(second.network.weight, first.network.weight)
    assert second.schedule.last_epoch == 1 and second.rng.random() == first.rng.random()


def test_a_state_holding_arbitrary_objects_is_refused(tmp_path: Path):
    torch.save({"step": 1, "payload": Path("/etc/passwd")}, tmp_path / STATE)  # a pickled object, not weights
    with pytest.raises(ValueError, match=rf"^{tmp_path / STATE}: not a reward-model checkpoint \(Weights only load"):
        loop(tmp_path).restore()
