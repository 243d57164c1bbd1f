"""Malformed tool calls become calls the episode answers with an error, instead of ending the episode.

TRL parses each turn with the tokenizer's `parse_response`; when a `<tool_call>` does not parse (broken JSON, no
closing tag, no name) TRL falls back to plain text, so the episode would end silently at the model's first slip, and a
call to a tool that does not exist gets TRL's bare "Tool X not found". `guard_tool_calls` wraps the tokenizer's parser
so that both come back as a call to the episode's first tool carrying only the reason (`MALFORMED`): the episode
answers "error: malformed tool call: <reason>", counts it, and the model gets another turn. The assistant message
keeps the text the model wrote, so rewards and the completions log see what it actually said.
"""

from __future__ import annotations

import json
import re
from typing import Any

from align.agents.episode import MALFORMED

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_BODY = re.compile(re.escape(OPEN) + r"(.*?)(?:" + re.escape(CLOSE) + r"|\Z)", re.DOTALL)


def malformed_reason(text: str, tools: list[str]) -> str | None:
    """Why the first broken `<tool_call>` in `text` cannot be called; None when every call is well formed."""
    for match in _BODY.finditer(text):
        body = match.group(1).strip()
        if not match.group(0).endswith(CLOSE):
            return f"no closing {CLOSE}"
        try:
            call = json.loads(body)
        except json.JSONDecodeError as err:
            return f"the call is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return 'the call has no "name"'
        if call["name"] not in tools:
            return f"there is no tool named {call['name']!r} (tools: {', '.join(tools)})"
        if not isinstance(call.get("arguments", {}), dict):
            return '"arguments" must be a JSON object'
    return None


def guard_tool_calls(tokenizer: Any, tools: list[str]) -> None:
    """Make `tokenizer.parse_response` (what TRL parses turns with) route malformed calls to the episode."""
    parse = tokenizer.parse_response

    def parse_response(ids: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            parsed = parse(ids, *args, **kwargs)
        except (ValueError, TypeError):
            parsed = None
        text = tokenizer.decode(ids, skip_special_tokens=True)
        reason = malformed_reason(text, tools) if OPEN in text else None
        if reason is None and parsed is not None:
            return parsed
        if reason is None:  # the parser failed on text without a tool call: TRL's own plain-text fallback
            raise ValueError("unparseable response")
        return {
            "role": "assistant",
            "content": text,
            "tool_calls": [{"type": "function", "function": {"name": tools[0], "arguments": {MALFORMED: reason}}}],
        }

    tokenizer.parse_response = parse_response
