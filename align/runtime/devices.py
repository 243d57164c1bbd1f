"""Where each model of a stage lives, decided once from the visible devices: a pure function, tested without GPUs.

Every model a stage uses — the policy being trained, the samplers, the reward model and the likelihood scorer —
goes to the training device, so a 7B policy's truthfulness scores are not computed on a CPU every GRPO batch.
The CPU is the device only where no GPU is visible. Under `accelerate launch` each process owns the GPU of its
local rank and keeps all of its models there; a single process that sees several GPUs trains on the first and
puts the scoring models (reward model, likelihood scorer) on the last, which keeps them out of the training
GPU's memory at no cost in speed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Visible:
    """What the process can see: the GPU count, whether they have bf16, and the process's local rank."""

    gpus: int
    bf16: bool = True
    local_rank: int | None = None
    world_size: int = 1


@dataclass(frozen=True)
class Placement:
    policy: str
    sampler: str
    reward: str
    likelihood: str
    precision: str  # what "auto" resolves to on the policy's device

    @property
    def on_gpu(self) -> bool:
        return self.policy.startswith("cuda")


def place(visible: Visible) -> Placement:
    if visible.gpus == 0:
        # bf16 on CPU is slower, not faster, and fp16 CPU kernels are incomplete.
        return Placement("cpu", "cpu", "cpu", "cpu", "fp32")
    precision = "bf16" if visible.bf16 else "fp16"
    if visible.world_size > 1 or visible.local_rank is not None:
        device = f"cuda:{(visible.local_rank or 0) % visible.gpus}"
        return Placement(device, device, device, device, precision)
    scoring = f"cuda:{visible.gpus - 1}"
    return Placement("cuda:0", "cuda:0", scoring, scoring, precision)


def visible_devices() -> Visible:
    """The real devices of this process (the only impure part)."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    rank = os.environ.get("LOCAL_RANK")
    return Visible(
        gpus=gpus,
        bf16=bool(gpus) and torch.cuda.is_bf16_supported(),
        local_rank=int(rank) if rank is not None else None,
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
    )


def current_placement() -> Placement:
    return place(visible_devices())
