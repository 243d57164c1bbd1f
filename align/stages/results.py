"""What each stage kind returns to the runner: a typed record whose `metrics()` is the manifest's `metrics`.

A record names every key its stage reports, so a reader of the code (or mypy) sees the contract instead of a dict
assembled by `**` from four helpers. The manifest keeps the flat mapping it always had: `metrics()` lays out the
fields in order, splices in nested records (the losses, the non-finite guard's counts) and the mappings whose keys
depend on the recipe (one per reward function, per balance group, per rollout engine).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# Field metadata: the value is a mapping of recipe-dependent keys, laid out flat in the metrics rather than under
# the field's name (an empty one adds nothing). Written as `field(metadata=SPLICED)` so that mypy's dataclass
# plugin still sees a field without a default.
SPLICED = {"spliced": True}


@dataclass(frozen=True)
class StageResult:
    """Base of every stage's result; `metrics()` keeps the fields' order (the runner logs the first six)."""

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, StageResult):
                out |= value.metrics()
            elif f.metadata.get("spliced"):
                out |= dict(value)
            else:
                out[f.name] = value
        return out


@dataclass(frozen=True)
class Losses(StageResult):
    """First and last logged training loss (the manifest's proof that training moved), the final eval loss and
    the Trainer's summary; a value the trainer never logged is left out of the metrics, not written as null."""

    loss_first: float | None = None
    loss_last: float | None = None
    eval_loss: float | None = None
    train_runtime: float | None = None
    train_loss: float | None = None

    def metrics(self) -> dict[str, Any]:
        return {key: value for key, value in super().metrics().items() if value is not None}


@dataclass(frozen=True)
class GuardCounts(StageResult):
    """The non-finite guard's verdict: steps it skipped, and the step training (re)started at — after a resume,
    the proof that the run continued rather than restarted."""

    nonfinite_steps_skipped: int
    first_step: int


@dataclass(frozen=True)
class SFTResult(StageResult):
    losses: Losses
    train_rows: int
    truncated_rows: int
    steps: int
    guard: GuardCounts


@dataclass(frozen=True)
class DPOResult(StageResult):
    losses: Losses
    pairs: int
    truncated_rows: int
    steps: int
    reward_accuracy_first: float | None
    reward_accuracy_last: float | None
    reward_accuracy_mean: float | None
    reward_margin_mean: float | None
    reward_margin_last: float | None
    init_artifact: str | None
    guard: GuardCounts


@dataclass(frozen=True)
class RewardModelResult(StageResult):
    """The reward model trainer's own metrics (held-out accuracy per dimension, calibration, probes): `reward`
    owns their names. Empty on the ranks that wait while the main process trains."""

    trained: Mapping[str, float] = field(metadata=SPLICED)


@dataclass(frozen=True)
class PairsResult(StageResult):
    prompts: int
    samples: int
    pass_rate: float
    pairs: int
    pairs_from_solved: int  # pairs whose rejected answer came from re-sampling a prompt the policy had solved
    user_pairs: int
    undecided_samples: int
    samples_per_s: float | None
    skipped: Mapping[str, int]
    batches_resumed: int
    verifier_failures: int
    verifier_flags: Mapping[str, int]
    per_group: Mapping[str, Any] = field(
        metadata=SPLICED
    )  # `pairs_per_group`, present only when the prompts were balanced


@dataclass(frozen=True)
class GRPOResult(StageResult):
    losses: Losses
    rewards: Mapping[str, float] = field(
        metadata=SPLICED
    )  # first/second-half mean per reward function, keyed by its name
    steps: int
    prompts_trained: int
    rollout_backend: str
    guard: GuardCounts
    reward_failures: Mapping[str, int]
    reward_flags: Mapping[str, int]
    rollouts: Mapping[str, Any] = field(metadata=SPLICED)  # the rollout_func's record; empty when TRL generated
    tools: Mapping[str, Any] = field(default_factory=dict, metadata=SPLICED)  # {"tools": totals}; a stage with tools
