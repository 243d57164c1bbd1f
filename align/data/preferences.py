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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from align.runtime.errors import AlignError

Messages = list[dict[str, str]]


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


def preference_row(row: Any, where: str) -> dict[str, Messages]:
    """One row as {"prompt": messages, "chosen": [assistant], "rejected": [assistant]}; errors name `where`."""
    if not isinstance(row, dict):
        raise AlignError(f"{where}: expected an object with 'chosen' and 'rejected', got {type(row).__name__}")
    missing = [k for k in ("chosen", "rejected") if row.get(k) is None]
    if missing:
        found = ", ".join(k for k, v in row.items() if v is not None) or "none"
        raise AlignError(f"{where}: missing {' and '.join(repr(k) for k in missing)} (found: {found})")
    chosen, rejected = row["chosen"], row["rejected"]
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


def preference_rows(rows: list[Any], name: str) -> list[dict[str, Messages]]:
    """Every row normalised; the first bad one stops with its 1-based row number."""
    return [preference_row(row, f"{name}: row {number}") for number, row in enumerate(rows, start=1)]
