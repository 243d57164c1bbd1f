"""The one JSON Lines reader: every row a JSON object, and an error that names the file and line.

`torn_tail=True` is for files a run appends to (completions.jsonl): a run killed mid-write leaves a last line
without its newline, and only that line may be skipped. Every other bad line is an error even there: a reader
that skipped any bad line would lose rows without a word."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JsonlError(ValueError):
    """A line that is not a JSON object; the message is `<path>:<line>: <what is wrong>`."""


def read_jsonl_numbered(path: str | Path, torn_tail: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for each non-blank line, so later checks can name the line a bad row came from."""
    path = Path(path)
    rows = []
    # Bytes, decoded per line: a bad byte is reported with its line, not as a UnicodeDecodeError traceback.
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            # Only the last line can lack its newline: an append cut short by a kill.
            torn = torn_tail and not raw.endswith(b"\n")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                if torn:
                    continue
                raise JsonlError(
                    f"{path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                if torn:
                    continue
                raise JsonlError(f"{path}:{number}: invalid JSON: {err.msg}") from None
            if isinstance(row, dict):
                rows.append((number, row))
            elif not torn:
                raise JsonlError(f"{path}:{number}: expected a JSON object per line")
    return rows


def read_jsonl(path: str | Path, torn_tail: bool = False) -> list[dict[str, Any]]:
    """Rows of a .jsonl file, blank lines skipped."""
    return [row for _, row in read_jsonl_numbered(path, torn_tail)]
