"""Read a recipe file, apply `--set` overrides, validate, and turn every failure into one line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from align.config.presets import apply_preset
from align.config.schema import STAGE_TYPES, Recipe
from align.runtime.errors import AlignError
from reward import shipped_root


def shipped_dirs() -> list[Path]:
    """The folder holding align's shipped data/ and recipes/ (checkout or installed copy), if there is one."""
    root = shipped_root()
    return [root] if root is not None else []


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = (), preset: str | None = None) -> Recipe:
    """`preset` (the --preset flag) wins over a `preset:` key in the file; `--set` overrides win over both."""
    path = _recipe_path(Path(path))
    raw = read_yaml(path)
    raw.setdefault("name", re.sub(r"[^A-Za-z0-9_-]", "-", path.stem))
    chosen = preset or raw.get("preset")
    if chosen is not None:
        raw = apply_preset(raw, str(chosen))
    for override in overrides:
        apply_override(raw, override)
    search_dirs = [Path.cwd(), path.resolve().parent, *shipped_dirs()]
    try:
        return Recipe.model_validate(raw, context={"search_dirs": search_dirs})
    except ValidationError as err:
        raise AlignError(f"{path}: {describe(err, raw)}") from None


def _recipe_path(path: Path) -> Path:
    """`recipes/math.yaml` names the shipped recipe when no such file is here (an installed align, any folder)."""
    if path.is_file() or path.is_absolute():
        return path
    shipped = [root / path for root in shipped_dirs() if (root / path).is_file()]
    return shipped[0] if shipped else path


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise AlignError(f"{path}: no such recipe file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise AlignError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise AlignError(f"{path}: a recipe is a mapping with 'model', 'lora' and 'stages' keys")
    return data


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in the raw recipe; `stages.<name>` picks a stage by name (or index)."""
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise AlignError(f"--set {override}: expected KEY=VALUE, e.g. stages.sft.learning_rate=1e-4")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, ".".join(parts[: depth + 1]), override)
    last = parts[-1]
    if isinstance(node, list):
        node[_stage_index(node, last, key, override)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise AlignError(f"--set {override}: '{'.'.join(parts[:-1])}' is not a mapping")


def _child(node: Any, part: str, where: str, override: str) -> Any:
    if isinstance(node, list):
        return node[_stage_index(node, part, where, override)]
    if not isinstance(node, dict):
        raise AlignError(f"--set {override}: '{where}' is not a mapping")
    return node.setdefault(part, {})


def _stage_index(stages: list[Any], part: str, where: str, override: str) -> int:
    for index, stage in enumerate(stages):
        if isinstance(stage, dict) and stage.get("name") == part:
            return index
    if part.isdigit() and int(part) < len(stages):
        return int(part)
    names = ", ".join(str(s.get("name")) for s in stages if isinstance(s, dict))
    raise AlignError(f"--set {override}: no stage '{part}' at {where} (stages: {names})")


UNION_BRANCHES = {"str", "DataSpec", "list[DataSpec]"}


def describe(err: ValidationError, raw: dict[str, Any]) -> str:
    """The first validation error as `key.path: problem`, with stages named as in `--set` keys."""
    errors = err.errors()
    # A value that fails every branch of a union (`str | DataSpec`) gets one error per branch; the type mismatch
    # of the branch it was never meant for ("should be a valid string") hides the one that says what is wrong.
    first = next((e for e in errors if not e["type"].endswith("_type")), errors[0])
    more = err.error_count() - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    location = _location(first["loc"], raw)
    message = _message(first)
    # Validators that know a more precise key path than pydantic's location name it themselves.
    if not location or message.startswith(f"{location}."):
        return f"{message}{suffix}"
    return f"{location}: {message}{suffix}"


def _location(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    parts: list[str] = []
    # Pydantic names the union branch in the path (`pairs.DataSpec.path`); users never wrote it there.
    items = [item for item in loc if item not in UNION_BRANCHES]
    listed = raw.get("stages")
    stages: list[Any] = listed if isinstance(listed, list) else []
    while items:
        item = items.pop(0)
        if parts == ["stages"] and isinstance(item, int):
            stage = stages[item] if item < len(stages) else None
            name = stage.get("name") if isinstance(stage, dict) else None
            parts.append(str(name) if isinstance(name, str) else str(item))
            # Pydantic puts the discriminator's value into the path; users never wrote it there.
            if items and items[0] in STAGE_TYPES:
                items.pop(0)
            continue
        parts.append(str(item))
    return ".".join(parts)


def _message(error: ErrorDetails) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing required key"
    if kind == "union_tag_not_found":
        return f"missing 'kind' (one of: {', '.join(STAGE_TYPES)})"
    if kind == "union_tag_invalid":
        return f"unknown stage kind {error['input'].get('kind')!r} (one of: {', '.join(STAGE_TYPES)})"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return f"{msg} (got {error['input']!r})" if not isinstance(error.get("input"), dict | list) else msg
