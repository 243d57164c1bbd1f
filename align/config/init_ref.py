"""What a stage's `init` names: an earlier stage, an adapter trained elsewhere, or nothing (a fresh adapter).

The rule is applied once, when the recipe is validated (`resolve_init`); afterwards a value's shape tells its kind
(`init_kind`): a stage name holds no '/', an adapter folder is stored as its absolute path, a hub adapter is
`owner/name`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

ADAPTER_CONFIG = "adapter_config.json"  # what makes a folder a PEFT adapter

INIT_RULE = (
    "A value is read as: the name of a stage of this recipe (it must come earlier); else a folder that exists "
    "(tried against the working directory, then the recipe's folder), which must hold adapter_config.json; else a "
    "hub adapter name `owner/name` (loaded as PEFT's PeftModel.from_pretrained loads it); anything else is an "
    "error. An adapter folder counts (for re-running) by the hash of its files, a hub adapter by its name."
)

# A hub repository id: owner/name, letters, digits, '-', '_' and '.' (huggingface_hub's own rule, less its limits).
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What can only be meant as a path.
PATH_PREFIXES = ("/", "./", "../", "~")

InitKind = Literal["fresh", "stage", "folder", "hub"]


def init_kind(value: str | None) -> InitKind:
    """The kind of a validated `init` value (validation stored every folder as an absolute path)."""
    if value is None:
        return "fresh"
    if value.startswith("/"):
        return "folder"
    return "hub" if "/" in value else "stage"


def is_external(value: str | None) -> bool:
    """An adapter from outside the run (a folder or a hub adapter), not an earlier stage or a fresh adapter."""
    return init_kind(value) in ("folder", "hub")


def resolve_init(value: str, where: str, stages: list[str], earlier: list[str], search_dirs: list[Path]) -> str:
    """The `init` value as stored: a stage name unchanged, an adapter folder as its absolute path, a hub name
    unchanged. `stages`: every stage name of the recipe (a later one is reported as such by the caller).
    Raises ValueError naming `where` (the key) for anything the rule does not accept."""
    if value in stages:
        return value
    expanded = Path(value).expanduser()
    candidates = [expanded] if expanded.is_absolute() else [d / expanded for d in search_dirs]
    found = next((c for c in candidates if c.exists()), None)
    if found is not None:
        if not found.is_dir():
            raise ValueError(f"{where}: {value} is a file; an adapter is a folder holding {ADAPTER_CONFIG}")
        if not (found / ADAPTER_CONFIG).is_file():
            raise ValueError(f"{where}: {found} has no {ADAPTER_CONFIG}; it is not a PEFT adapter folder")
        return str(found.resolve())
    if value.startswith(PATH_PREFIXES):
        tried = ", ".join(dict.fromkeys(str(c.parent) for c in candidates))
        raise ValueError(f"{where}: adapter folder not found: {value} (looked in {tried})")
    if HUB_ID.match(value):
        return value
    names = ", ".join(earlier) or "none"
    raise ValueError(
        f"{where}: '{value}' is not an earlier stage ({names}), an adapter folder or a hub adapter name (owner/name)"
    )


def read_adapter_config(folder: Path) -> dict[str, Any]:
    """The adapter folder's adapter_config.json, or {} when it cannot be read (PEFT's own load then says why)."""
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text())
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def adapter_rank(folder: Path | None, default: int) -> int:
    """The LoRA rank a vLLM engine must make room for to serve `folder`: its own r (an adapter trained elsewhere
    may not have the recipe's), at least `default`."""
    rank = read_adapter_config(folder).get("r") if folder is not None else None
    return max(default, rank) if isinstance(rank, int) else default
