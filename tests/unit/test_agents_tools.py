"""align.agents without a model: tools by name and import path, what an episode answers to bad calls, hangs and long
outputs, malformed-call parsing, and the recipe keys."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from align.agents.calls import malformed_reason
from align.agents.episode import MALFORMED, Toolbox
from align.agents.resolve import require_visible_tests, resolve_tools
from align.config.load import load_recipe
from align.runtime.errors import AlignError
from align.stages.grpo.tools import episode_counts

ENVIRONMENT = '''
import threading

NEVER = threading.Event()


class Counter:
    """One instance per episode: its count starts at the row's `start`."""

    def reset(self, **row):
        self.count = row["start"]
        return f"The counter starts at {self.count}."

    def add(self, amount: int) -> str:
        """Add to the counter.

        Args:
            amount: How much to add.
        """
        self.count += amount
        return str(self.count)


def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: What to say.
    """
    if not text:
        raise ValueError("nothing to shout")
    return text.upper() + "!" * 400


def hang(seconds: int) -> str:
    """Never answers.

    Args:
        seconds: Ignored.
    """
    NEVER.wait()
    return "unreachable"


def undocumented(x):
    return x
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "my_tools.py").write_text(ENVIRONMENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_tools"


@pytest.fixture
def toolbox(word_tokenizer):
    # A tool that answers must never lose a race with the clock on a loaded machine: the wall limit is far behind,
    # except where a test wants it to fire (then on a tool that never answers, whatever the load).
    def make(names: list[str], budget: int = 50, timeout_s: float = 60.0) -> Toolbox:
        return Toolbox(resolve_tools(names, "stages.g.tools"), word_tokenizer, budget, timeout_s, "stages.g.tools")

    return make


def test_an_environment_class_gets_one_instance_per_episode(user_module: str, toolbox):
    box = toolbox([f"{user_module}:Counter"])
    assert box.names == ["add"]
    first, second = box.episode_class(), box.episode_class()
    assert first.reset(start=1, prompt=[]) == "The counter starts at 1."
    second.reset(start=10, prompt=[])
    assert first.add(amount=2) == "3" and second.add(amount=2) == "12"
    assert first.add(amount=2) == "5"
    assert box.stats.calls == 3 and box.stats.errors == 0


def test_bad_calls_are_answered_with_errors_and_counted(user_module: str, toolbox):
    box = toolbox([f"{user_module}:shout"], budget=5)
    episode = box.episode_class()
    episode.reset(prompt=[])
    assert "missing a required argument: 'text'" in episode.shout(words="hi")
    assert episode.shout(text="") == "error: ValueError: nothing to shout"
    reply = episode.shout(**{MALFORMED: "no closing </tool_call>"})
    assert reply.startswith("error: malformed tool call: no closing </tool_call>")
    assert episode.shout(text="a b c d e f g") == "A B C D E\n... [cut: 2 more tokens]"
    assert (box.stats.calls, box.stats.errors, box.stats.malformed) == (4, 3, 1)
    taken = box.stats.take()
    assert taken.calls == 4 and box.stats.calls == 0


def test_a_tool_that_hangs_times_out_and_the_episode_goes_on(user_module: str, toolbox):
    box = toolbox([f"{user_module}:hang", f"{user_module}:shout"], timeout_s=0.2)
    episode = box.episode_class()
    episode.reset(prompt=[])
    assert episode.hang(seconds=1) == "error: hang did not answer within 0.2 s"
    box.timeout_s = 60.0  # the tool that answers must not race a 0.2 s clock on a loaded machine
    assert episode.shout(text="still here").startswith("STILL HERE!")
    assert box.stats.errors == 1  # the abandoned thread is a daemon waiting on an Event: it ends with the tests


def test_the_python_tool_times_out_in_the_sandbox_and_the_episode_goes_on(toolbox):
    box = toolbox(["python"], budget=100)
    episode = box.episode_class()
    episode.reset(prompt=[])
    assert "error: timeout" in episode.python(code="while True:\n    pass")
    assert episode.python(code="print(6 * 7)") == "42"
    assert box.stats.errors == 1 and box.stats.calls == 2


def test_rows_without_visible_tests_are_refused_only_for_the_tests_tool():
    rows = [{"visible_tests": "def check(candidate):\n    pass\n"}, {"tests": "assert True"}]
    require_visible_tests(["python"], rows, "prompts.jsonl")  # the python tool reads no row column
    with pytest.raises(AlignError) as err:
        require_visible_tests(["python", "tests"], rows, "prompts.jsonl")
    assert str(err.value).startswith("prompts.jsonl: row 2: no 'visible_tests'")


def test_the_tests_tool_reads_the_rows_visible_tests_only(toolbox):
    box = toolbox(["tests"], budget=100)
    episode = box.episode_class()
    visible = "def check(candidate):\n    assert candidate(2) == 4\n"
    episode.reset(prompt=[], visible_tests=visible, tests="def check(candidate):\n    assert False\n", entry_point="f")
    assert episode.tests(code="def f(x):\n    return 2 * x") == "1/1 visible tests passed"
    reply = episode.tests(code="def f(x):\n    return x + 1")
    assert reply.startswith("0/1 visible tests passed\nFAILED assert candidate(2) == 4 -> AssertionError")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("no_such_module_xyz:f", "stages.g.tools[0]: cannot import no_such_module_xyz"),
        ("my_tools:missing", "stages.g.tools[0]: my_tools has no 'missing'"),
        ("my_tools:undocumented", "stages.g.tools: tool 'undocumented' cannot be described to the model"),
        ("my_tools:NEVER", "stages.g.tools[0]: my_tools:NEVER is neither a function nor a class"),
    ],
)
def test_unusable_tools_are_one_line_errors(user_module: str, name: str, expected: str, toolbox):
    with pytest.raises(AlignError) as err:
        toolbox([name])
    assert str(err.value).startswith(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('<tool_call>\n{"name": "python", "arguments": {"code": "1"}}\n</tool_call>', None),
        ("no call at all", None),
        ('<tool_call>\n{"name": "python", "arguments": {"code": "1"}}', "no closing </tool_call>"),
        ('<tool_call>\n{"name": "python", "arguments": {"code": "1"}\n</tool_call>', "the call is not valid JSON"),
        ('<tool_call>\n{"arguments": {}}\n</tool_call>', 'the call has no "name"'),
        ('<tool_call>\n{"name": "calc", "arguments": {}}\n</tool_call>', "there is no tool named 'calc'"),
        ('<tool_call>\n{"name": "python", "arguments": "x"}\n</tool_call>', '"arguments" must be a JSON object'),
    ],
)
def test_malformed_calls_are_named(text: str, reason: str | None):
    found = malformed_reason(text, ["python"])
    assert (found is None) if reason is None else found.startswith(reason)


def test_episode_counts_turns_tool_results_and_cuts():
    call = {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "python", "arguments": {}}}]}
    result = {"role": "tool", "name": "python", "content": "1"}
    answer = {"role": "assistant", "content": "1"}
    episodes = [[answer], [call, result, answer], [call, result, call]]
    counts = episode_counts(episodes, max_turns=2)
    assert counts == {"episodes": 3, "turns": 5, "tool_results": 2, "cut_by_turn_limit": 1}


def grpo_recipe(tmp_path: Path, **extra) -> Path:
    (tmp_path / "p.jsonl").write_text('{"prompt": "1+1?", "answer": "2"}\n')
    stage = {"name": "g", "kind": "grpo", "prompts": str(tmp_path / "p.jsonl"), "verifier": "math", **extra}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "r", "stages": [stage]}))
    return path


def test_a_tool_stage_validates(tmp_path: Path):
    stage = load_recipe(
        grpo_recipe(tmp_path, tools=["python", "pkg.mod:Env"], prompt_selection={"enabled": False})
    ).stages[0]
    assert stage.tools == ["python", "pkg.mod:Env"] and stage.max_turns == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tools": ["shell"], "prompt_selection": {"enabled": False}}, "stages.g.tools[0]: 'shell' is neither"),
        ({"tools": ["python", "python"], "prompt_selection": {"enabled": False}}, "a tool is named twice"),
        ({"tools": ["python"]}, "stages.g.prompt_selection: prompts are ranked by single-turn samples"),
        ({"tools": ["python"], "prompt_selection": {"enabled": False}, "max_turns": 1}, "max_turns"),
    ],
)
def test_bad_tool_keys_are_refused(tmp_path: Path, extra: dict, message: str):
    with pytest.raises(AlignError) as err:
        load_recipe(grpo_recipe(tmp_path, **extra))
    assert message in str(err.value)


def test_the_report_shows_every_turn_of_a_logged_episode(tmp_path: Path):
    import json

    from align.artifacts.contract import COMPLETIONS, StageFolder
    from align.report.sections import samples_section

    turns = [
        {"role": "assistant", "content": "", "tool_calls": [{"name": "python", "arguments": {"code": "print(2)"}}]},
        {"role": "tool", "name": "python", "content": "2"},
        {"role": "assistant", "content": "<tool_call>{", "malformed_call": "no closing </tool_call>"},
        {"role": "assistant", "content": "The answer is 2."},
    ]
    row = {"step": 1, "prompt": "1+1?", "completion": "The answer is 2.", "total": 1.0, "transcript": turns}
    (tmp_path / COMPLETIONS).write_text(json.dumps(row) + "\n")
    section = samples_section(None, [StageFolder("grpo", tmp_path, None, True)])
    assert '[calls python({"code": "print(2)"})]' in section
    assert "[python returned] 2" in section and "malformed call: no closing" in section
    assert "The answer is 2." in section


def test_the_eval_block_takes_tools_and_the_tests_tool_with_a_code_set(tmp_path: Path):
    path = grpo_recipe(tmp_path, tools=["python"], prompt_selection={"enabled": False})
    recipe = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**recipe, "eval": {"tools": ["python"], "max_turns": 3}}))
    assert load_recipe(path).eval.tools == ["python"]
    tests_eval = {"tools": ["tests"], "suites": ["code"], "code_data": "data/agents/code_eval.jsonl"}
    path.write_text(yaml.safe_dump({**recipe, "eval": tests_eval}))
    assert load_recipe(path).eval.code_data == "data/agents/code_eval.jsonl"
    refused = {
        "suites [math, code]": ({**tests_eval, "suites": ["math", "code"]}, "suite(s) math have none"),
        "no code_data": ({"tools": ["tests"], "suites": ["code"]}, "needs eval.code_data"),
    }
    for case, (spec, message) in refused.items():
        path.write_text(yaml.safe_dump({**recipe, "eval": spec}))
        with pytest.raises(AlignError) as err:
            load_recipe(path)
        assert "eval.tools" in str(err.value) and message in str(err.value), case


def test_a_tools_module_in_the_working_folder_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toolbox):
    (tmp_path / "folder_tools.py").write_text(ENVIRONMENT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert toolbox(["folder_tools:shout"]).names == ["shout"]
