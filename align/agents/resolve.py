"""A recipe's tool names as callables: the built-in `python` and `tests`, functions and environment classes by import
path."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from align.runtime.errors import AlignError, first_line
from reward import ToolRun, python_tool, tests_tool

VISIBLE_TESTS = "visible_tests"
# Episode methods TRL never exposes as tools (its environment contract); the rest of a class's public methods are.
_NOT_TOOLS = ("reset", "get_reward")


def python(code: str) -> str:
    """Run a Python program in a sandbox and return what it prints, or the error it raised.

    Args:
        code: A complete Python program; print the values you want to see.
    """
    raise NotImplementedError  # the signature and docstring describe the tool; Episode runs python_tool


def tests(code: str) -> str:
    """Run your solution against the task's example tests and return which tests failed and how.

    Args:
        code: Your complete solution: the whole function, with its imports.
    """
    raise NotImplementedError  # as for python: Episode runs tests_tool on the row's visible tests


@dataclass(frozen=True)
class Tool:
    """One tool the model can call: `describe` gives its name, signature and docstring; `owner` is the environment
    class whose per-episode instance runs it (None for a built-in or a plain function)."""

    name: str
    describe: Callable[..., Any]
    owner: type | None = None
    builtin: bool = False
    """Runs in the sandbox through `builtin_call`; `describe` only describes it."""


def builtin_call(name: str, row: dict[str, Any], code: str) -> ToolRun:
    """Run a built-in tool for an episode whose prompt row is `row`; a `ToolRun`."""
    if name == "python":
        return python_tool(code)
    return tests_tool(code, row[VISIBLE_TESTS], entry_point=row.get("entry_point"), prompt=row.get("code_prompt") or "")


def require_visible_tests(tools: Sequence[str], rows: Sequence[Mapping[str, Any]], source: str) -> None:
    """Refuse prompt rows the `tests` tool could not run on (when `tools` has it): the tool runs the model's code
    against the row's `visible_tests` and nothing else, so a row without them has nothing to show the model."""
    if "tests" not in tools:
        return
    for index, row in enumerate(rows):
        if not isinstance(row.get(VISIBLE_TESTS), str):
            raise AlignError(
                f"{source}: row {index + 1}: no '{VISIBLE_TESTS}' (the `tests` tool runs the model's code against "
                "it; the held-out `tests` stay the reward's)"
            )


def resolve_tools(names: list[str], where: str) -> list[Tool]:
    """The tools of `names` (recipe order; an environment contributes all its public methods), checked to be
    describable and uniquely named."""
    tools: list[Tool] = []
    for index, name in enumerate(names):
        at = f"{where}[{index}]"
        if name == "python":
            tools.append(Tool("python", python, builtin=True))
        elif name == "tests":
            tools.append(Tool("tests", tests, builtin=True))
        else:
            target = _import(name, at)
            if inspect.isclass(target):
                tools.extend(_environment_tools(target, at))
            elif callable(target):
                tools.append(Tool(target.__name__, target))
            else:
                raise AlignError(f"{at}: {name} is neither a function nor a class")
    seen: set[str] = set()
    for tool in tools:
        if tool.name in seen:
            raise AlignError(f"{where}: two tools are named {tool.name!r}")
        if inspect.iscoroutinefunction(tool.describe):
            raise AlignError(f"{where}: tool {tool.name!r} is async; align's tools are plain functions")
        seen.add(tool.name)
    return tools


def _import(path: str, at: str) -> Any:
    module_name, _, attribute = path.partition(":")
    # The `align` console script's sys.path starts at its own bin folder, not the working folder: put the working
    # folder first, as `python -m` does, so a tools module next to the recipe imports.
    folder = str(Path.cwd())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = import_module(module_name)
    except Exception as err:  # the user's module: anything it raises on import is theirs to see
        raise AlignError(f"{at}: cannot import {module_name}: {first_line(err)}") from None
    if not hasattr(module, attribute):
        raise AlignError(f"{at}: {module_name} has no {attribute!r}")
    return getattr(module, attribute)


def _environment_tools(cls: type, at: str) -> list[Tool]:
    methods = [
        name
        for name, _ in inspect.getmembers(cls, predicate=inspect.isfunction)
        if not name.startswith("_") and name not in _NOT_TOOLS
    ]
    if not methods:
        raise AlignError(f"{at}: {cls.__name__} has no public methods to offer as tools")
    if hasattr(cls, "get_reward"):
        raise AlignError(
            f"{at}: {cls.__name__}.get_reward: an environment's reward is not read; score episodes with the "
            "stage's rewards (a verifier or a reward source reads the final answer and the transcript)"
        )
    return [Tool(name, getattr(cls, name), cls) for name in methods]
