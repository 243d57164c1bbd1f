"""Markdown pieces GitHub renders: tables whose cells survive pipes, newlines and long model output."""

from __future__ import annotations

from collections.abc import Sequence

CELL_CHARS = 400


def cell(value: object, max_chars: int = CELL_CHARS) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value).strip()
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    # A pipe ends a cell and a newline ends the row; HTML line breaks keep multi-line answers in one cell.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>") or " "


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def image(alt: str, relative_path: str) -> str:
    return f"![{alt}]({relative_path})"
