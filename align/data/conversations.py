"""Multi-turn tool conversations for SFT and DPO: messages with assistant `tool_calls` and `tool` results, checked and
normalised to the form chat templates render (`{"type": "function", "function": {"name", "arguments"}}`).

A row that a template would render wrongly or that teaches a call no tool answers is refused with its row and turn
named: an unknown tool, arguments that are not an object, a tool result with no call before it, no assistant turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from align.config.schema import DataSpec
from align.data.load import load_located_rows
from align.runtime.errors import AlignError

ROLES = ("system", "user", "assistant", "tool")


def load_tool_conversations(spec: DataSpec, tools: list[str]) -> list[list[dict[str, Any]]]:
    """Each row's messages, normalised; `tools` are the names the calls may use."""
    return [tool_conversation(row, spec.messages_column, tools, where) for where, row in load_located_rows(spec)]


def tool_conversation(row: dict[str, Any], column: str, tools: list[str], where: str) -> list[dict[str, Any]]:
    messages = row.get(column)
    if not isinstance(messages, list) or not messages:
        raise AlignError(f"{where}: a stage with tools trains on '{column}': a list of chat messages")
    out, _ = tool_messages(messages, tools, lambda index: f"{where}: {column}[{index}]")
    if not any(m["role"] == "assistant" for m in out):
        raise AlignError(f"{where}: '{column}' has no assistant turn to train on")
    return out


def tool_messages(
    messages: list[Any], tools: list[str], at: Callable[[int], str], pending: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """`messages` checked and normalised, and how many calls of the last assistant turn are still unanswered;
    `pending` carries that count over from the messages before these (a DPO prompt before its completion);
    `at(index)` names a message in an error."""
    out = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise AlignError(f"{at(index)}: a message needs a role ({', '.join(ROLES)})")
        role = message["role"]
        content = message.get("content") or ""
        if not isinstance(content, str):
            raise AlignError(f"{at(index)}: content must be text")
        normal: dict[str, Any] = {"role": role, "content": content}
        if role == "assistant" and message.get("tool_calls"):
            calls = message["tool_calls"]
            if not isinstance(calls, list):
                raise AlignError(f"{at(index)}.tool_calls: a list of tool calls")
            normal["tool_calls"] = [_call(c, tools, f"{at(index)}.tool_calls[{i}]") for i, c in enumerate(calls)]
            pending = len(normal["tool_calls"])
        elif role == "tool":
            if pending == 0:
                raise AlignError(f"{at(index)}: a tool result with no tool call before it")
            pending -= 1
            normal["name"] = message.get("name") or ""
        else:
            pending = 0
        out.append(normal)
    return out, pending


def _call(call: Any, tools: list[str], at: str) -> dict[str, Any]:
    function = call.get("function", call) if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise AlignError(f"{at}: a tool call is {{'name': ..., 'arguments': {{...}}}}")
    if function["name"] not in tools:
        raise AlignError(f"{at}: no tool named {function['name']!r} in the stage's tools ({', '.join(tools)})")
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):  # OpenAI-style JSON text
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            arguments = None
    if not isinstance(arguments, dict):
        raise AlignError(f"{at}: arguments must be a JSON object")
    return {"type": "function", "function": {"name": function["name"], "arguments": arguments}}
