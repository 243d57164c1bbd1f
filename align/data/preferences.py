"""A user's preference data in TRL's preference format, checked row by row and normalised for DPO.

Accepted rows (the formats TRL's DPOTrainer documents), extra keys ignored:
- explicit prompt, plain:           {"prompt": str, "chosen": str, "rejected": str}
- explicit prompt, conversational:  {"prompt": [messages], "chosen": [assistant messages], "rejected": [...]}
- implicit prompt: only "chosen" and "rejected", each the whole conversation (or text); the prompt is their
  longest common prefix of turns (for text: up to the last whitespace before they differ), as TRL's
  `extract_prompt` does.

Every row comes out conversational — `prompt` a message list, `chosen`/`rejected` one assistant message each —
the shape a `pairs` stage writes, so user pairs and built pairs mix in one DPO dataset. Plain text becomes a user
turn and an assistant reply, which is what the policy's chat template will show it at sampling time.

A DPO stage with `tools` reads conversational rows whose turns may carry tool calls and tool results instead
(`tool_preference_row`): `chosen`/`rejected` are then each a list of assistant and tool turns ending with an assistant
turn, checked as an SFT stage checks its tool conversations (`align.data.conversations`). A row with tool calls
reaching a stage without `tools` is refused rather than read without them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from align.data.conversations import tool_messages
from align.runtime.errors import AlignError

Messages = list[dict[str, str]]
PARTS = ("prompt", "chosen", "rejected")


def _messages(value: Any, role: str) -> Messages | None:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if (
        isinstance(value, list)
        and value
        and all(isinstance(m, dict) and isinstance(m.get("content"), str) and "role" in m for m in value)
    ):
        return [{"role": str(m["role"]), "content": m["content"]} for m in value]
    return None


def _shared_prefix(chosen: Sequence[object], rejected: Sequence[object]) -> int:
    """How many leading items (characters or turns) the two answers share."""
    common = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        common += 1
    return common


def _split_text(chosen: str, rejected: str) -> tuple[str, str, str]:
    common = _shared_prefix(chosen, rejected)
    # Cut at a word boundary, so the prompt never ends inside a word the two answers share ("4" vs "42").
    cut = max(chosen.rfind(" ", 0, common), chosen.rfind("\n", 0, common)) + 1
    return chosen[:cut], chosen[cut:], rejected[cut:]


def _split_turns(chosen: Messages, rejected: Messages) -> tuple[Messages, Messages, Messages]:
    common = _shared_prefix(chosen, rejected)
    return chosen[:common], chosen[common:], rejected[common:]


def _implicit(chosen: Any, rejected: Any, where: str) -> tuple[Messages, Any, Any]:
    """The prompt both sides share, and what remains of each."""
    if isinstance(chosen, str) and isinstance(rejected, str):
        text, chosen, rejected = _split_text(chosen, rejected)
        prompt = [{"role": "user", "content": text}] if text.strip() else []
    else:
        turns_c, turns_r = _messages(chosen, "assistant"), _messages(rejected, "assistant")
        if turns_c is None or turns_r is None:
            raise AlignError(f"{where}: 'chosen' and 'rejected' must both be strings or both chat messages")
        prompt, chosen, rejected = _split_turns(turns_c, turns_r)
    if not prompt:
        raise AlignError(f"{where}: no 'prompt' and 'chosen'/'rejected' share no prompt to extract")
    return prompt, chosen, rejected


def _reply(value: Any, key: str, where: str) -> Messages:
    messages = _messages(value, "assistant")
    if messages is None or len(messages) != 1 or messages[0]["role"] != "assistant":
        raise AlignError(f"{where}: {key!r} must be one assistant reply (a string or one assistant message)")
    if not messages[0]["content"].strip():
        raise AlignError(f"{where}: {key!r} is empty")
    return messages


def _sides(row: Any, where: str) -> tuple[Any, Any]:
    if not isinstance(row, dict):
        raise AlignError(f"{where}: expected an object with 'chosen' and 'rejected', got {type(row).__name__}")
    missing = [k for k in ("chosen", "rejected") if row.get(k) is None]
    if missing:
        found = ", ".join(k for k, v in row.items() if v is not None) or "none"
        raise AlignError(f"{where}: missing {' and '.join(repr(k) for k in missing)} (found: {found})")
    return row["chosen"], row["rejected"]


def _uses_tools(value: Any) -> bool:
    return isinstance(value, list) and any(
        isinstance(m, dict) and (m.get("role") == "tool" or m.get("tool_calls")) for m in value
    )


def preference_row(row: Any, where: str) -> dict[str, Messages]:
    """One row as {"prompt": messages, "chosen": [assistant], "rejected": [assistant]}; errors name `where`."""
    chosen, rejected = _sides(row, where)
    if any(_uses_tools(row.get(k)) for k in PARTS):
        raise AlignError(f"{where}: has tool calls or tool results; give the dpo stage the `tools` they use")
    if row.get("prompt") is None:
        prompt, chosen, rejected = _implicit(chosen, rejected, where)
    else:
        explicit = _messages(row["prompt"], "user")
        if explicit is None:
            raise AlignError(f"{where}: 'prompt' must be a string or chat messages")
        prompt = explicit
    if prompt[-1]["role"] == "assistant":
        raise AlignError(f"{where}: the prompt must end with a user turn, not an assistant one")
    out = {"prompt": prompt, "chosen": _reply(chosen, "chosen", where), "rejected": _reply(rejected, "rejected", where)}
    if out["chosen"] == out["rejected"]:
        raise AlignError(f"{where}: 'chosen' and 'rejected' are identical (no preference to learn)")
    return out


def _turns(value: Any, role: str, where: str, key: str) -> list[Any]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if not isinstance(value, list) or not value:
        raise AlignError(f"{where}: {key!r} must be a string or a list of chat messages")
    return value


def _naming(part: str) -> Callable[[int], str]:
    return lambda index: f"{part}[{index}]"


def tool_preference_row(row: Any, where: str, tools: list[str]) -> dict[str, list[dict[str, Any]]]:
    """One row of a DPO stage with `tools`: the prompt (system/user turns, earlier assistant turns with their tool
    calls and results) and each completion (assistant turns, tool results between them, an assistant turn last),
    checked as one conversation each — a result in `chosen` may answer a call the prompt's last turn made."""
    chosen, rejected = _sides(row, where)
    chosen, rejected = _turns(chosen, "assistant", where, "chosen"), _turns(rejected, "assistant", where, "rejected")
    if row.get("prompt") is None:  # implicit: the turns both conversations share
        given, chosen, rejected = _split_turns(chosen, rejected)
        if not given:
            raise AlignError(f"{where}: no 'prompt' and 'chosen'/'rejected' share no prompt to extract")
    else:
        given = _turns(row["prompt"], "user", where, "prompt")
    prompt, pending = tool_messages(given, tools, _naming(f"{where}: prompt"))
    if prompt[-1]["role"] == "assistant":
        raise AlignError(f"{where}: the prompt must end with a user or tool turn, not an assistant one")
    out: dict[str, list[dict[str, Any]]] = {"prompt": prompt}
    for key, value in (("chosen", chosen), ("rejected", rejected)):
        turns, _ = tool_messages(value, tools, _naming(f"{where}: {key}"), pending)
        if not turns or turns[-1]["role"] != "assistant" or any(m["role"] not in ("assistant", "tool") for m in turns):
            raise AlignError(f"{where}: {key!r} must be assistant turns and tool results, the last an assistant one")
        if not (turns[-1]["content"].strip() or turns[-1].get("tool_calls")):
            raise AlignError(f"{where}: {key!r} ends with an empty assistant turn")
        out[key] = turns
    if out["chosen"] == out["rejected"]:
        raise AlignError(f"{where}: 'chosen' and 'rejected' are identical (no preference to learn)")
    return out


def preference_rows(rows: list[Any], name: str, tools: list[str] | None = None) -> list[dict[str, Any]]:
    """Every row normalised (as tool conversations when `tools` names the stage's tools); the first bad one stops
    with its 1-based row number."""
    if tools:
        return [tool_preference_row(row, f"{name}: row {n}", tools) for n, row in enumerate(rows, start=1)]
    return [preference_row(row, f"{name}: row {number}") for number, row in enumerate(rows, start=1)]
