"""The report's "Chat: before and after <stage>" sections: for a GRPO policy and the policy it started from,
both evaluated on the chat suite, the prompts whose score rose most on each reward dimension the stage
optimised, with both answers and both scores.

The dimensions are those with a positive weight in the stage's `rewards` (its manifest config); when the
manifest is not there to say, every reward dimension the chat suite scored. Answers are cut in the table,
not in eval.json.
"""

from __future__ import annotations

from typing import Any

from align.artifacts.contract import StageFolder
from align.config.schema import RewardSpec
from align.evaluation.textstats import DESCRIPTIVE_METRICS
from align.report.markdown import table

SHOWN_PER_DIMENSION = 3
SUITE = "chat"


def chat_changes_section(results: dict[str, Any] | None, stages: list[StageFolder]) -> str:
    models = (results or {}).get("models", {})
    folders = {stage.name: stage for stage in stages}
    parts = []
    for name, entry in models.items():
        if entry.get("kind") != "grpo":
            continue
        after = _chat(entry)
        before = _chat(models.get(entry.get("init") or ""))
        if after is None or before is None or _prompts(after) != _prompts(before):
            continue  # not both evaluated on the same chat prompts: nothing to pair
        dimensions = optimised(folders.get(name), after)
        blocks = [_dimension_block(d, before, after) for d in dimensions]
        if any(blocks):
            heading = f"## Chat: before and after {name}\n\n"
            intro = (
                f"Per dimension {name} optimised, the {SHOWN_PER_DIMENSION} held-out chat prompts whose score on "
                f"it rose most from `{entry['init']}` (the policy {name} started from) to `{name}`, largest change "
                "first (a change of 0 or below: fewer prompts rose), each answer with its score on that dimension."
            )
            parts.append(heading + "\n\n".join([intro, *filter(None, blocks)]))
    return "\n\n".join(parts)


def optimised(stage: StageFolder | None, chat: dict[str, Any]) -> list[str]:
    """The chat suite's reward dimensions that the stage's recipe weighted above 0 (all of them without one)."""
    scored = [m for m in chat["per_problem"] if m != "total" and m not in DESCRIPTIVE_METRICS]
    rewards = (stage.manifest.config.get("rewards") if stage and stage.manifest else None) or {}
    if not rewards:
        return scored
    default = RewardSpec.model_fields["weight"].default
    return [d for d in scored if d in rewards and (rewards[d] or {}).get("weight", default) > 0]


def _dimension_block(dimension: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    old, new = before["per_problem"].get(dimension), after["per_problem"].get(dimension)
    if old is None or new is None or not len(old) == len(new) == len(after["answers"]):
        return ""
    changes = sorted(
        ((b - a, i) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a is not None and b is not None),
        key=lambda change: -change[0],
    )[:SHOWN_PER_DIMENSION]
    if not changes:
        return ""
    rows = [
        [
            after["answers"][i]["prompt"],
            _scored(old[i], before["answers"][i]["completion"]),
            _scored(new[i], after["answers"][i]["completion"]),
            f"{diff:+.3f}",
        ]
        for diff, i in changes
    ]
    return f"### {dimension}\n\n" + table(["prompt", "before: score · answer", "after: score · answer", "change"], rows)


def _scored(score: float, answer: str) -> str:
    # The score first: the cell is cut at the end when the answer is long.
    return f"{score:.3f} · {answer}"


def _chat(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    chat = ((entry or {}).get("suites") or {}).get(SUITE)
    return chat if chat and chat.get("answers") and chat.get("per_problem") else None


def _prompts(chat: dict[str, Any]) -> list[str]:
    return [answer["prompt"] for answer in chat["answers"]]
