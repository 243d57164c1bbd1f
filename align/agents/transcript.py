"""An episode's messages as the completions log writes them: every turn, tool calls as the model made them."""

from __future__ import annotations

from typing import Any

from align.agents.episode import MALFORMED


def is_episode(completion: Any) -> bool:
    """More than one message: an episode with tool turns, not a single answer."""
    return isinstance(completion, list) and len(completion) > 1


def transcript(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-ready turns. A malformed call shows as the text the model wrote plus the reason it could not be parsed,
    not as the call align routed it through."""
    turns = []
    for message in messages:
        turn: dict[str, Any] = {"role": message.get("role"), "content": message.get("content") or ""}
        if message.get("role") == "tool":
            turn["name"] = message.get("name")
        calls = [c.get("function", c) for c in message.get("tool_calls") or []]
        malformed = [c["arguments"][MALFORMED] for c in calls if MALFORMED in (c.get("arguments") or {})]
        if malformed:
            turn["malformed_call"] = malformed[0]
        elif calls:
            turn["tool_calls"] = [{"name": c.get("name"), "arguments": c.get("arguments")} for c in calls]
        turns.append(turn)
    return turns
