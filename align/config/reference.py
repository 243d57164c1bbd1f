"""The recipe reference (docs/reference.md), written from the schema so the two cannot drift apart.

`python -m align.config.reference > docs/reference.md` (or `make reference`) rewrites it; a test compares the file
with `render()` and fails when a schema change was not carried into the docs.
"""

from __future__ import annotations

import re
import sys
import types
import typing

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from align.config.schema import STAGE_TYPES, Recipe

HEADER = """# Recipe reference

Every key a recipe may hold, with its type, default and meaning. This page is generated from the schema
(`align/config/schema.py`) by `make reference`; a test fails when it is out of date. `align stages [KIND]` prints
the same for one stage kind in the terminal. Unknown keys are errors, and so is a value of the wrong type: each
names the key's path (`stages.sft.learning_rate`) and exits with status 2.
"""


def render() -> str:
    """The whole reference as Markdown: the top-level recipe, each stage kind, then every nested block."""
    sections = [HEADER, _section("Recipe", Recipe, "The top level of a recipe file.")]
    nested: list[type[BaseModel]] = []
    for kind, stage in STAGE_TYPES.items():
        sections.append(_section(f"Stage kind `{kind}`", stage, (stage.__doc__ or "").strip(), anchor=f"stage-{kind}"))
    # Nested blocks are listed once, after everything that links to them, in the order they are first met.
    roots: list[type[BaseModel]] = [Recipe, *STAGE_TYPES.values()]
    for root in roots:
        _collect(root, nested)
    for model in nested:
        sections.append(_section(model.__name__, model, (model.__doc__ or "").strip()))
    return "\n".join(sections)


def _section(title: str, model: type[BaseModel], doc: str, anchor: str | None = None) -> str:
    lines = [f"## {title}" + (f" {{#{anchor}}}" if anchor else ""), ""]
    if doc:
        lines += [" ".join(doc.split()), ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name == "kind":
            continue
        lines.append(f"| `{name}` | {_type(info.annotation)} | {_default(info)} | {_cell(info.description or '')} |")
    return "\n".join(lines) + "\n"


def _collect(model: type[BaseModel], found: list[type[BaseModel]]) -> None:
    for info in model.model_fields.values():
        for inner in _models_in(info.annotation):
            if inner not in found and inner is not Recipe and inner not in STAGE_TYPES.values():
                found.append(inner)
                _collect(inner, found)


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _type(annotation: object) -> str:
    """A short, readable type; nested blocks link to their own section."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in STAGE_TYPES.values():
            return "a stage"
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if all(a in STAGE_TYPES.values() for a in args):  # the discriminated union of stage kinds
            return "a stage: " + ", ".join(f"[{k}](#stage-{k})" for k in STAGE_TYPES)
        return " or ".join(_type(a) for a in args)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a!r}`" if a is not None else "`null`" for a in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (list, tuple):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {_type(args[0])} → {_type(args[1])}"
    if annotation is type(None):
        return "`null`"
    name = getattr(annotation, "__name__", None) or str(annotation)
    return re.sub(r"\btyping\.", "", name)


def plain_type(annotation: object) -> str:
    """The reference's type without Markdown, for the terminal (`align stages`)."""
    text = re.sub(r"\[([^\]]+)\]\(#[^)]*\)", r"\1", _type(annotation))
    return text.replace("\\|", "|").replace("`", "")


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see block"
    if value is None:
        return "`null`"
    return _cell(f"`{value!r}`")


def _cell(text: str) -> str:
    # A pipe would end the table cell, a newline the row, and <run-dir> outside a code span would read as HTML.
    parts = " ".join(text.split()).replace("|", "\\|").split("`")
    return "`".join(part if i % 2 else part.replace("<", "&lt;") for i, part in enumerate(parts))


if __name__ == "__main__":
    sys.stdout.write(render())
