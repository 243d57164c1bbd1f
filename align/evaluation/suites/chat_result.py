"""The chat suite's result, whichever scorer (reward model or LLM judge) produced the per-dimension scores.

Besides the mean score per dimension it reports each answer's length and repetition rate (textstats), so a
reward that rose by padding or looping shows up next to it, with the same intervals and paired changes. Every
answer is kept with its prompt (`answers`, in `per_problem` order) so the report can show, per dimension, the
prompts whose score moved most between two policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from align.evaluation.metrics import mean_judged, reward_means, reward_per_problem
from align.evaluation.suites.base import Chat, examples
from align.evaluation.textstats import answer_columns
from reward import prompt_text


def chat_result(
    prompts: Sequence[Chat],
    greedy: Sequence[str],
    rows: Sequence[Mapping[str, float | None]],
    dimensions: Sequence[str],
    undecided: int,
) -> dict[str, Any]:
    texts = answer_columns(greedy)
    totals = [sum(v for v in row.values() if v is not None) for row in rows]
    return {
        "metrics": reward_means(rows, dimensions) | {k: mean_judged(v) for k, v in texts.items()},
        "per_problem": reward_per_problem(rows, dimensions) | texts,
        "n": len(prompts),
        "undecided": undecided,
        "answers": [{"prompt": prompt_text(p), "completion": c} for p, c in zip(prompts, greedy, strict=True)],
        "examples": examples(prompts, greedy, reward_total=totals),
    }
