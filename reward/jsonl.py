"""The one JSON Lines reader: every row a JSON object, and an error that names the file and line.

`skip_bad=True` is for logs that a killed run may have left with a torn last line (completions.jsonl):
unreadable lines are skipped there instead of failing the reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class JsonlError(ValueError):
    """A line that is not a JSON object; the message is `<path>:<line>: <what is wrong>`."""


def read_jsonl(path: str | Path, skip_bad: bool = False) -> list[dict[str, Any]]:
    """Rows of a .jsonl file, blank lines skipped."""
    path = Path(path)
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                if skip_bad:
                    continue
                raise JsonlError(f"{path}:{number}: invalid JSON: {err.msg}") from None
            if isinstance(row, dict):
                rows.append(row)
            elif not skip_bad:
                raise JsonlError(f"{path}:{number}: expected a JSON object per line")
    return rows
