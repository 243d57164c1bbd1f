"""What every suite hands the evaluator: prompts to answer, and a function that scores the answers.

Generation lives in one place (the evaluator), so every suite decodes the same way and one loaded policy
serves all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from align.config.load import shipped_dirs
from align.config.paths import resolve_data_path
from align.config.schema import DataSpec
from align.runtime.errors import AlignError
from reward import prompt_text

Chat = list[dict[str, str]]
# Greedy completions (one per prompt), and the sampled ones (k per prompt) when --samples k > 1.
Scorer = Callable[[list[str], list[list[str]] | None], dict[str, Any]]
SHOWN_EXAMPLES = 3  # completions kept per suite and policy, for the report's side-by-side view


class SuiteUnavailableError(Exception):
    """A suite whose inputs are not available here; its reason is reported and the other suites still run."""


@dataclass(frozen=True)
class PreparedSuite:
    name: str
    prompts: list[Chat]
    score: Scorer
    max_new_tokens: int
    source: str  # where the prompts came from, recorded with the results
    sampled: bool = True  # whether pass@k sampling means anything for this suite
    # The prompts' rows, for tool-using episodes (`reset(**row)`, as in GRPO): the `tests` tool runs a row's
    # `visible_tests`. None: the suite hands its tools no row columns.
    rows: list[dict[str, Any]] | None = None


def as_chat(prompt: str | Chat) -> Chat:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def examples(prompts: Sequence[Chat], completions: Sequence[str], **columns: Sequence[Any]) -> list[dict[str, Any]]:
    """The first few rows as {prompt, completion, <column>: value}, for people to read."""
    return [
        {"prompt": prompt_text(p), "completion": c, **{k: v[i] for k, v in columns.items()}}
        for i, (p, c) in enumerate(zip(prompts[:SHOWN_EXAMPLES], completions[:SHOWN_EXAMPLES], strict=True))
    ]


def data_spec(
    data: str | None, limit: int | None, *, default: str, option: str, hub_presets: dict[str, dict[str, str]]
) -> DataSpec:
    """Where a suite's prompts come from: a hub set with its own layout (`hub_presets`), the user's file or
    folder (`option` names the flag in errors), or the shipped `default`, missing in an install without data."""
    if data in hub_presets:
        return DataSpec(**{"path": data, **hub_presets[data], "limit": limit})
    try:
        path = resolve_data_path(data or default, [Path.cwd(), *shipped_dirs()])
    except ValueError as err:
        if data is None:
            raise SuiteUnavailableError(f"no held-out set ({default} not found); pass {option} FILE") from None
        raise AlignError(f"{option}: {err}") from None
    return DataSpec(path=path, limit=limit)
