"""The one JSON Lines reader: every row a JSON object, and an error that names the file and line.

`skip_bad=True` is for logs that a killed run may have left with a torn last line (completions.jsonl):
unreadable lines are skipped there instead of failing the reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JsonlError(ValueError):
    """A line that is not a JSON object; the message is `<path>:<line>: <what is wrong>`."""


def read_jsonl_numbered(path: str | Path, skip_bad: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) for each non-blank line, so later checks can name the line a bad row came from."""
    path = Path(path)
    rows = []
    # Bytes, decoded per line: a bad byte is reported with its line, not as a UnicodeDecodeError traceback.
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                if skip_bad:
                    continue
                raise JsonlError(
                    f"{path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                if skip_bad:
                    continue
                raise JsonlError(f"{path}:{number}: invalid JSON: {err.msg}") from None
            if isinstance(row, dict):
                rows.append((number, row))
            elif not skip_bad:
                raise JsonlError(f"{path}:{number}: expected a JSON object per line")
    return rows


def read_jsonl(path: str | Path, skip_bad: bool = False) -> list[dict[str, Any]]:
    """Rows of a .jsonl file, blank lines skipped."""
    return [row for _, row in read_jsonl_numbered(path, skip_bad)]
