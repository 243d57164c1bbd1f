"""The chat suite judged by an LLM (`align eval --judge`): the six dimensions rated by rubric, 1-10 → [0, 1].

The judge is the GRPO `judge` reward source, built through `reward.build_rewards`: a model name (the offline
built-in included), a folder, or an OpenAI-compatible endpoint URL. An unreadable reply is a missing score,
counted in `undecided`; means and the total follow `reward.aggregate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from align.config.schema import RewardSpec
from align.evaluation.suites.chat_result import chat_result
from align.models.reward_inputs import reward_inputs
from reward import DIMENSIONS, build_rewards, prompt_text


def judged_scorer(judge: str, prompts: Sequence[Any]):
    """A chat-suite `score(greedy, sampled)` function rating every answer on the six dimensions."""
    where = {"url": judge} if judge.startswith(("http://", "https://")) else {"model": judge}
    specs = {d: RewardSpec(source="judge", **where) for d in DIMENSIONS}
    rewards = build_rewards(specs, reward_inputs(None, None, None))
    texts = [prompt_text(p) for p in prompts]

    def score(greedy: list[str], sampled: list[list[str]] | None) -> dict[str, Any]:
        columns = {r.name: r.function(texts, greedy) for r in rewards}
        rows = [{d: values[i] for d, values in columns.items()} for i in range(len(greedy))]
        undecided = sum(any(v is None for v in row.values()) for row in rows)
        return chat_result(prompts, greedy, rows, list(DIMENSIONS), undecided)

    return score
