"""What an evaluation was asked to do; stored beside its results so a cached result is reused only for
the same question."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from align.config.schema import EvalSpec

SUITE_NAMES = ("math", "math_ood", "code", "chat", "ifeval", "ifeval_unseen")
# Chen et al. 2021 sample at 0.8 for pass@k with k > 1: enough spread to find a correct answer, not noise.
SAMPLING_TEMPERATURE = 0.8
SAMPLING_TOP_P = 0.95
# Row columns each suite is broken down by where its rows carry them; the default is the recipe schema's.
GROUP_BY = tuple(EvalSpec.model_fields["group_by"].default)


@dataclass(frozen=True)
class EvalSettings:
    suites: tuple[str, ...] = ("math",)
    samples: int = 1  # >1: also draw this many samples per prompt at SAMPLING_TEMPERATURE for pass@k
    limit: int | None = None  # first N prompts of each suite
    max_new_tokens: int | None = None  # None: each suite's own default
    seed: int = 0
    backend: str = "auto"  # sampling backend: auto = vLLM when installed, else HF generate
    math_data: str | None = None  # None: the shipped held-out set; a file, a folder or a hub name (openai/gsm8k)
    chat_data: str | None = None  # None: the shipped held-out chat prompts
    code_data: str | None = None  # None: the shipped procedural problems; humaneval:eval for HumanEval
    ifeval_data: str | None = None  # None: the shipped held-out constraints; a file in IFEval's format or google/IFEval
    reward: str | None = None  # reward model folder for the chat suite
    reward_version: str | None = None  # its stage fingerprint: chat results are stale once it is retrained
    judge: str | None = None  # chat suite judged by an LLM instead: a model name/folder or an endpoint URL
    temperature: float = SAMPLING_TEMPERATURE
    top_p: float = SAMPLING_TOP_P
    # Row columns each suite's results are broken down by (align.evaluation.groups). Part of the question: results
    # stored without a column's labels cannot be broken down by it, so a new column re-evaluates.
    group_by: tuple[str, ...] = GROUP_BY
    # Answers as the last turn of tool-using episodes (align.agents): the tools, and assistant turns per episode.
    tools: tuple[str, ...] = ()
    max_turns: int = 4

    def __post_init__(self) -> None:
        unknown = [s for s in self.suites if s not in SUITE_NAMES]
        if unknown:
            raise ValueError(f"unknown suite {', '.join(unknown)} (one of: {', '.join(SUITE_NAMES)})")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.max_turns < 2:
            raise ValueError(f"max_turns must be at least 2, got {self.max_turns}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "suites": list(self.suites),
            "group_by": list(self.group_by),
            "tools": list(self.tools),
        }

    def same_question(self, other: dict[str, Any] | None) -> bool:
        """Whether results computed under `other` (a stored to_json) answer these settings, suites aside."""
        if other is None:
            return False
        mine = {k: v for k, v in self.to_json().items() if k != "suites"}
        return all(other.get(k) == v for k, v in mine.items())
