"""Where each reward dimension's scores come from, and `build_rewards`, which turns a recipe's reward specs
into TRL reward functions.

A source is a builder `(named specs, inputs) -> {name: Dimension}`: it receives every spec of its source at
once so that, e.g., all reward-model heads share one loaded model. A new source (a hub reward model, an LLM
judge) is one module with a builder plus one `SOURCES` line; recipes then name it in `rewards.<name>.source`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reward.dimensions import Dimension, LengthBudget, RuleDimension, VerifierDimension, model_dimensions
from reward.hub import build_hub
from reward.judge import build_judge
from reward.reference import build_reference
from reward.verifiers import get_verifier


class RewardSource(Protocol):
    """What a recipe says about one reward (align's `RewardSpec` satisfies it)."""

    @property
    def source(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def budget(self) -> int: ...


def _as_given(name: str) -> str:
    return name


@dataclass(frozen=True)
class SourceInputs:
    verifier: str | None = None  # registered verifier name, for the "verifier" source
    reward_model: Path | None = None  # a reward stage's folder, for the "model" source
    # Model names a spec gives ("hub", "judge", "reference") -> a loadable folder or hub name; align passes its own
    # resolver so that its built-in offline model names work here too (reward never imports align).
    resolve_model: Callable[[str], str] = _as_given
    policy_model: str | None = None  # the recipe's base model, for `model: policy`
    device: str = "cpu"

    def lm_location(self, model: str | None, user: str) -> str:
        """The folder or hub name of a causal LM a spec names (`user` says which, for the error): 'policy' or none
        is the recipe's base model, its weights untouched by training; anything else goes through the resolver."""
        if model not in (None, "policy"):
            return self.resolve_model(model)
        if self.policy_model is None:
            raise ValueError(f"a 'policy' {user} needs the recipe's model, and none was given")
        return self.policy_model


@dataclass(frozen=True)
class BuiltReward:
    """One of a recipe's rewards, built: the dimension's name, its weight and the callable that scores it. Kept
    together so a caller never zips parallel name / weight / function lists back up."""

    name: str
    weight: float
    # A Dimension as built; callers may wrap it (GRPO counts failures) as long as it stays a TRL reward function.
    function: Callable[..., list[float | None]]


Named = Sequence[tuple[str, RewardSource]]
Builder = Callable[[Named, SourceInputs], dict[str, Dimension]]


def _verifier(named: Named, inputs: SourceInputs) -> dict[str, Dimension]:
    if inputs.verifier is None:
        raise ValueError(f"reward(s) {[n for n, _ in named]} use source 'verifier' but no verifier is set")
    verifier = get_verifier(inputs.verifier)
    return {name: VerifierDimension(name, verifier.verify_batch, verifier.columns) for name, _ in named}


def _model(named: Named, inputs: SourceInputs) -> dict[str, Dimension]:
    if inputs.reward_model is None:
        raise ValueError(f"reward(s) {[n for n, _ in named]} use source 'model' but no reward model is given")
    # Only the heads in use: a likelihood dimension nobody asked for would cost an LM pass per batch.
    names = [n for n, _ in named]
    return {d.name: d for d in model_dimensions(inputs.reward_model, names=names, device=inputs.device)}


def _rule(named: Named, inputs: SourceInputs) -> dict[str, Dimension]:
    return {name: RuleDimension(name, LengthBudget(spec.budget)) for name, spec in named}


SOURCES: dict[str, Builder] = {
    "verifier": _verifier,
    "model": _model,
    "rule": _rule,
    "hub": build_hub,
    "judge": build_judge,
    "reference": build_reference,
}


def build_rewards(specs: Mapping[str, RewardSource], inputs: SourceInputs) -> list[BuiltReward]:
    """The specs' rewards in their order, each with its weight (TRL `reward_weights`, and `aggregate`'s)."""
    built: dict[str, Dimension] = {}
    for source, builder in SOURCES.items():
        named = [(name, spec) for name, spec in specs.items() if spec.source == source]
        if named:
            built |= builder(named, inputs)
    unknown = sorted({spec.source for spec in specs.values()} - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown reward source(s) {unknown}; known: {', '.join(SOURCES)}")
    return [BuiltReward(name, spec.weight, built[name]) for name, spec in specs.items()]
