"""The environment class TRL's tool loop instantiates: one instance per concurrent episode, `reset(**row)` before
each, the recipe's tools as its methods.

Every call goes through `Episode._call`, which is what makes a call safe to train on: arguments that do not fit the
tool, a malformed call (see calls.py), an exception, a tool that never answers — each becomes an `error: ...` message
the model reads next, counted in `ToolStats`, and the episode goes on. Results longer than the budget are cut.
"""

from __future__ import annotations

import inspect
import threading
import time
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from align.agents.resolve import Tool, builtin_call
from align.runtime.errors import AlignError, first_line
from reward import ToolRun

MALFORMED = "__align_malformed__"
"""The argument calls.py routes an unparseable tool call with: the reason it could not be parsed."""
CALL_FORMAT = '<tool_call>\n{"name": "<tool>", "arguments": {...}}\n</tool_call>'


@dataclass
class ToolStats:
    """Tool calls since the last `take()` (one training step's, in the GRPO stage)."""

    calls: int = 0
    errors: int = 0
    """Calls that failed: bad arguments, a malformed call, an exception, a timeout, code that did not run through."""
    malformed: int = 0
    """Calls that could not be parsed, or named no tool; also counted in `errors`."""
    seconds: float = 0.0

    def take(self) -> ToolStats:
        taken = ToolStats(**{f.name: getattr(self, f.name) for f in fields(self)})
        for f in fields(self):
            setattr(self, f.name, type(getattr(self, f.name))())
        return taken


class Episode:
    """Base of the class `Toolbox.episode_class()` builds; its tool methods are generated (`_tool_method`)."""

    _toolbox: ClassVar[Toolbox]

    def __init__(self) -> None:
        self._row: dict[str, Any] = {}
        self._environments = {cls: cls() for cls in self._toolbox.environment_classes}

    def reset(self, **row: Any) -> str | None:
        """Start an episode on a prompt row; what user environments' `reset` return is appended to the prompt."""
        self._row = row
        observations = [env.reset(**row) for env in self._environments.values() if hasattr(env, "reset")]
        texts = [str(o) for o in observations if o]
        return "\n\n".join(texts) if texts else None

    def _call(self, tool: Tool, arguments: dict[str, Any]) -> str:
        box = self._toolbox
        box.stats.calls += 1
        if MALFORMED in arguments:
            box.stats.malformed += 1
            box.stats.errors += 1
            return f"error: malformed tool call: {arguments[MALFORMED]}. Call a tool as {CALL_FORMAT}"
        signature = box.signatures[tool.name]
        try:
            signature.bind(**arguments)
        except TypeError as err:
            box.stats.errors += 1
            return f"error: {tool.name}({', '.join(signature.parameters)}): {err}"
        started = time.monotonic()
        text, failed = self._run(tool, arguments)
        box.stats.seconds += time.monotonic() - started
        box.stats.errors += failed
        return box.cut(text)

    def _run(self, tool: Tool, arguments: dict[str, Any]) -> tuple[str, bool]:
        """(text, failed). Built-ins run in the sandbox, which bounds their time itself; a user's tool runs in a
        thread the episode stops waiting for after `timeout_s` (Python cannot kill it: it is abandoned)."""
        if tool.builtin:
            return _outcome(lambda: builtin_call(tool.name, self._row, **arguments))
        target = getattr(self._environments[tool.owner], tool.name) if tool.owner is not None else tool.describe
        box: dict[str, tuple[str, bool]] = {}
        worker = threading.Thread(target=lambda: box.setdefault("out", _outcome(lambda: target(**arguments))))
        worker.daemon = True
        worker.start()
        worker.join(self._toolbox.timeout_s)
        if "out" not in box:
            return f"error: {tool.name} did not answer within {self._toolbox.timeout_s:g} s", True
        return box["out"]


def _outcome(call: Any) -> tuple[str, bool]:
    try:
        result = call()
    except Exception as err:  # the tool's failure is the model's to read, never the run's to crash on
        return f"error: {type(err).__name__}: {first_line(err)}", True
    if isinstance(result, ToolRun):
        return result.text, result.error
    return str(result), False


def _tool_method(tool: Tool) -> Any:
    """A method that calls `tool` through `Episode._call`, carrying the name, signature, type hints and docstring
    transformers turns into the JSON schema the model is shown."""
    params = list(inspect.signature(tool.describe).parameters.values())
    if tool.owner is not None:
        params = params[1:]  # the environment's own `self`

    def method(self: Episode, **arguments: Any) -> str:
        return self._call(tool, arguments)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    method.__signature__ = inspect.Signature([self_param, *params])  # type: ignore[attr-defined]
    method.__name__ = method.__qualname__ = tool.name
    method.__doc__ = tool.describe.__doc__
    method.__annotations__ = {k: v for k, v in getattr(tool.describe, "__annotations__", {}).items() if k != "self"}
    method.__wrapped__ = tool.describe  # type: ignore[attr-defined]  # get_type_hints resolves names in its module
    return method


class Toolbox:
    """A stage's tools: the episode class for TRL, the output budget, the timeout and the counters."""

    def __init__(self, tools: list[Tool], tokenizer: Any, output_tokens: int, timeout_s: float, where: str):
        self.tools = tools
        self.tokenizer = tokenizer
        self.output_tokens = output_tokens
        self.timeout_s = timeout_s
        self.stats = ToolStats()
        self.environment_classes = list(dict.fromkeys(t.owner for t in tools if t.owner is not None))
        self.signatures = {}
        for tool in tools:
            params = list(inspect.signature(tool.describe).parameters.values())
            self.signatures[tool.name] = inspect.Signature(params[1:] if tool.owner else params)
        methods = {tool.name: _tool_method(tool) for tool in tools}
        self.episode_class: type[Episode] = type("Episode", (Episode,), {"_toolbox": self, **methods})
        tool_schemas(tools, where)  # refuse a tool the model could not be shown before any model loads

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tools]

    def cut(self, text: str) -> str:
        """`text` within the token budget, saying how much was left out."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.output_tokens:
            return text
        kept = self.tokenizer.decode(ids[: self.output_tokens])
        return f"{kept}\n... [cut: {len(ids) - self.output_tokens} more tokens]"


def tool_schemas(tools: list[Tool], where: str) -> list[dict[str, Any]]:
    """The JSON schemas the chat template renders for `tools`: those of the episode's bound methods, exactly as TRL
    renders them in GRPO, so SFT demonstrations show the model the same system prompt."""
    from transformers.utils import get_json_schema

    probe: Any = object.__new__(type("Episode", (Episode,), {t.name: _tool_method(t) for t in tools}))
    schemas = []
    for tool in tools:
        try:
            schemas.append(get_json_schema(getattr(probe, tool.name)))
        except Exception as err:  # transformers' DocstringParsingException / TypeHintParsingException
            raise AlignError(
                f"{where}: tool {tool.name!r} cannot be described to the model ({first_line(err)}); give every "
                "argument a type hint and a line under `Args:` in its docstring"
            ) from None
    return schemas
