"""Every use align makes of TRL's private API, in one place, written against one TRL version (`PINNED`).

TRL offers no public hook for what these do — re-generating a GRPO batch (dynamic sampling), logging an extra
metric beside its own, reading its prompt tokenisation, ordering its training sampler, giving DPO rows already
tokenised — and its next minor version may rename or change any underscored name without notice. Code elsewhere
in align (and the tests) calls the functions here, never the underscored names, so an upgrade breaks in this file;
`problems()` lists what no longer matches and tests/unit/test_trl_private.py turns that into one failure naming the
pinned version.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from trl.trainer.utils import RepeatSampler

T = TypeVar("T")
PINNED = "1.16"
__all__ = ["PINNED", "RepeatSampler", "problems"]

# (class, method) -> parameters after self, as TRL 1.16 (and transformers' Trainer under it) defines them.
METHODS = {
    ("GRPOTrainer", "_generate_and_score_completions"): ["inputs"],
    ("GRPOTrainer", "_tokenize_prompts"): ["prompts"],
    ("GRPOTrainer", "_get_train_sampler"): ["dataset"],
    # Scripted in tests/unit/test_agents_masking.py, where a random model must make a well-formed tool call.
    ("GRPOTrainer", "_generate_single_turn"): [
        "prompt_ids",
        "images",
        "multimodal_fields",
        "num_generations",
        "has_tool_images",
    ],
    ("SFTTrainer", "_prepare_inputs"): ["inputs"],
    ("DPOTrainer", "_prepare_inputs"): ["inputs"],
    ("DPOTrainer", "_prepare_dataset"): ["dataset", "processing_class", "args", "dataset_name"],
}
# Attributes a GRPOTrainer instance carries: its metric buffers and its processing class's tokenizer.
ATTRIBUTES = ("_metrics", "_logs", "_tokenizer")


def generate_and_score(trainer: Any, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """One GRPO generation batch (completions, rewards, advantages) for `inputs`, as a training step makes it."""
    return trainer._generate_and_score_completions(inputs)


def prepare_inputs(trainer: Any, batch: Any) -> Any:
    """A data-loader batch as an SFT or DPO trainer's training step hands it to compute_loss."""
    return trainer._prepare_inputs(batch)


def log_metric(trainer: Any, key: str, value: float, mode: str = "train") -> None:
    """A value logged (averaged over the logging window) beside GRPO's own metrics."""
    trainer._metrics[mode][key].append(value)


def logged(trainer: Any, key: str, mode: str = "train") -> list[float]:
    """Every value of one GRPO metric logged since the last log line."""
    return list(trainer._metrics[mode][key])


def logged_advantages(trainer: Any) -> list[float]:
    """The advantages of the completions GRPO logged last."""
    return list(trainer._logs["advantages"])


def tokenize_prompts(trainer: Any, prompts: list[Any]) -> list[list[int]]:
    """Prompt token ids exactly as the GRPO trainer tokenises them for generation (chat template included)."""
    prompt_ids, _, _ = trainer._tokenize_prompts(prompts)
    return prompt_ids


def pad_token_id(trainer: Any) -> int:
    return trainer._tokenizer.pad_token_id


def with_generation_hook(trainer_class: type[T], hook: Callable[[Any, Any, Callable[[Any], Any]], Any]) -> type[T]:
    """A subclass whose every generation batch is `hook(trainer, inputs, generate)`, `generate` being TRL's own."""

    class HookedTrainer(trainer_class):  # type: ignore[valid-type, misc]
        def _generate_and_score_completions(self, inputs):
            return hook(self, inputs, super()._generate_and_score_completions)

    return HookedTrainer


def with_train_sampler(trainer_class: type[T], make: Callable[[Any, Any], Any]) -> type[T]:
    """A subclass whose training sampler is `make(trainer, dataset)`."""

    class SampledTrainer(trainer_class):  # type: ignore[valid-type, misc]
        def _get_train_sampler(self, dataset=None):
            return make(self, self.train_dataset if dataset is None else dataset)

    return SampledTrainer


def with_tokenized_rows(trainer_class: type[T]) -> type[T]:
    """A DPO trainer subclass that trains on rows already tokenised (`prompt_ids`, `chosen_ids`, `rejected_ids` and
    what its collator reads besides): TRL 1.16 always re-renders the rows' messages, leaving no room for a mask."""

    class TokenizedTrainer(trainer_class):  # type: ignore[valid-type, misc]
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

    return TokenizedTrainer


def problems(trainer: Any | None = None) -> list[str]:
    """What in the installed TRL no longer matches this module (empty when all does); `trainer`, a built
    GRPOTrainer, lets the instance attributes be checked too."""
    import trl

    found = []
    if not trl.__version__.startswith(PINNED + "."):
        found.append(f"TRL {trl.__version__} is installed; align's use of TRL internals was written for {PINNED}")
    for (owner, name), params in METHODS.items():
        method = getattr(getattr(trl, owner), name, None)
        if method is None:
            found.append(f"{owner}.{name} is gone")
        elif list(inspect.signature(method).parameters)[1:] != params:
            found.append(f"{owner}.{name} now takes {list(inspect.signature(method).parameters)[1:]}")
    for name in ATTRIBUTES if trainer is not None else ():
        if not hasattr(trainer, name):
            found.append(f"a GRPOTrainer has no attribute {name}")
    return found
