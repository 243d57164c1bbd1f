"""The environment example in docs/agents.md works as written, through the episode align builds for TRL."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from align.agents.episode import Toolbox, tool_schemas
from align.agents.resolve import resolve_tools

PAGE = Path(__file__).resolve().parents[1] / "docs" / "agents.md"


@pytest.fixture
def my_tools(monkeypatch: pytest.MonkeyPatch) -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    source = next(b for b in blocks if b.startswith("# my_tools.py"))
    module = types.ModuleType("my_tools")
    monkeypatch.setitem(sys.modules, "my_tools", module)
    exec(compile(source, "docs/agents.md:my_tools.py", "exec"), module.__dict__)
    return "my_tools:Shop"


def test_the_environment_example_runs_as_the_page_says(my_tools: str, word_tokenizer):
    tools = resolve_tools([my_tools, "python"], "tools")
    box = Toolbox(tools, word_tokenizer, 256, 30.0, "tools")
    assert box.names == ["buy", "price", "python"]
    schemas = {s["function"]["name"]: s["function"] for s in tool_schemas(tools, "tools")}
    assert schemas["buy"]["parameters"]["properties"]["count"]["type"] == "integer"
    assert schemas["price"]["description"] == "Look up the price of one item."

    episode = box.episode_class()
    assert episode.reset(prompt=[], prices={"apple": 3, "pear": 5}) == "The shop is open."
    assert episode.price(item="apple") == "3"
    assert episode.buy(item="pear", count=2) == "basket total: 10"
    assert episode.price(item="kiwi") == "error: ValueError: no kiwi here; we sell apple, pear"
    assert episode.price() == "error: price(item): missing a required argument: 'item'"
    other = box.episode_class()  # one instance per episode: the first episode's basket is not this one's
    other.reset(prompt=[], prices={"pear": 1})
    assert other.buy(item="pear", count=1) == "basket total: 1"
    assert (box.stats.calls, box.stats.errors) == (5, 2)
