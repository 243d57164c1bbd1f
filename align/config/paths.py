"""How a path written in a recipe is found, and how a local file is told apart from a hub dataset name."""

from __future__ import annotations

from pathlib import Path

LOCAL_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".jsonl.gz", ".json.gz")


def looks_local(path: str) -> bool:
    """A hub name is `owner/name` or `name`; anything with a file suffix or a path prefix is meant to be local."""
    return path.endswith(LOCAL_SUFFIXES) or path.startswith(("/", "./", "../", "~"))


def resolve_data_path(path: str, search_dirs: list[Path]) -> str:
    """Return an absolute path for a local file, or the hub name unchanged.

    Raises ValueError (which the recipe loader reports with the key's path) for a local file found nowhere.
    """
    expanded = Path(path).expanduser()
    candidates = [expanded] if expanded.is_absolute() else [d / expanded for d in search_dirs]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate.resolve())
    if looks_local(path):
        tried = ", ".join(str(c.parent) for c in candidates)
        raise ValueError(f"file not found: {path} (looked in {tried})")
    return path
