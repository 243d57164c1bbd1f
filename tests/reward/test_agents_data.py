"""The shipped tool-use demonstrations: rebuilt byte for byte, every tool result the real tool's, keys split, and
the visible tests apart from (and a subset of) the held-out ones."""

import importlib.util
import json
import sys
from pathlib import Path

import reward

AGENTS_DIR = Path(__file__).resolve().parents[2] / "data" / "agents"


def _build_module():
    spec = importlib.util.spec_from_file_location("agents_build", AGENTS_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (AGENTS_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_files_are_what_the_build_writes() -> None:
    build = _build_module()
    for split, rows in build.build().items():
        assert (AGENTS_DIR / f"{split}.jsonl").read_text(encoding="utf-8") == build.render(rows), split


def test_math_keys_are_split() -> None:
    keys = {split: {r["key"] for r in _rows(split)} for split in ("math_sft", "math_prompts", "math_eval")}
    assert not keys["math_sft"] & keys["math_prompts"] and not keys["math_sft"] & keys["math_eval"]
    assert not keys["math_prompts"] & keys["math_eval"]


def test_word_problems_are_held_out_from_every_math_split_and_answer_their_key() -> None:
    keys = {split: {r["key"] for r in _rows(split)} for split in ("math_sft", "math_prompts", "math_eval")}
    words = {split: _rows(f"math_word_{split}") for split in ("prompts", "eval")}
    word_keys = {split: {r["key"] for r in rows} for split, rows in words.items()}
    assert len(word_keys["eval"]) == len(words["eval"]) == 100 and not word_keys["eval"] & word_keys["prompts"]
    assert not (word_keys["eval"] | word_keys["prompts"]) & set().union(*keys.values())
    for row in words["prompts"] + words["eval"]:
        a, b = (int(n) for n in row["key"].split(" + ")[0].split(" * "))
        assert str(a) in row["prompt"] and str(b) in row["prompt"] and "×" not in row["prompt"]
        assert row["answer"] == str(eval(row["key"])) and row["kind"] == ("a*b+c" if "+" in row["key"] else "a*b")
    assert {r["kind"] for r in words["eval"]} == {"a*b", "a*b+c"}


def test_code_eval_is_held_out_from_training_and_prompts() -> None:
    rows = _rows("code_eval")
    assert 80 <= len(rows) <= 120
    for row in rows:
        assert {"prompt", "code_prompt", "tests", "visible_tests", "entry_point", "key"} <= row.keys()
    keys = {split: {r["key"] for r in _rows(split)} for split in ("code_sft", "code_prompts", "code_eval")}
    assert len(keys["code_eval"]) == len(rows)  # each held-out problem once
    assert not keys["code_eval"] & keys["code_sft"] and not keys["code_eval"] & keys["code_prompts"]


def test_the_combined_sft_file_holds_both_tools_demonstrations_interleaved() -> None:
    combined = _rows("sft")
    parts = _rows("math_sft") + _rows("code_sft")
    assert sorted(map(json.dumps, combined)) == sorted(map(json.dumps, parts))
    tools = [r["messages"][1]["tool_calls"][0]["name"] for r in combined]
    assert {"python", "tests"} == set(tools[:10])  # spread through the file, not one tool then the other
    assert {"python", "tests"} == set(tools[-10:])


def test_code_demonstrations_show_a_failing_test_read_and_fixed() -> None:
    rows = _rows("code_sft")
    fixed = [r for r in rows if sum(m["role"] == "tool" for m in r["messages"]) == 2]
    assert len(fixed) >= 50
    first, second = [m["content"] for m in fixed[0]["messages"] if m["role"] == "tool"]
    assert "FAILED" in first and second.startswith("2/2 visible tests passed")
    assert not {r["key"] for r in rows} & {r["key"] for r in _rows("code_prompts")}


def test_tool_results_in_the_demonstrations_are_the_tools_own() -> None:
    for row in _rows("math_sft")[:5]:
        call, output = row["messages"][1], row["messages"][2]
        assert reward.python_tool(call["tool_calls"][0]["arguments"]["code"]).text == output["content"]
    for row in [r for r in _rows("code_sft") if sum(m["role"] == "tool" for m in r["messages"]) == 2][:5]:
        for call, output in zip(row["messages"][1::2], row["messages"][2::2], strict=False):
            code = call["tool_calls"][0]["arguments"]["code"]
            run = reward.tests_tool(code, row["visible_tests"], entry_point=row["entry_point"])
            assert run.text == output["content"]
    # The visible tests are some of the held-out checks, never others.
    for row in _rows("code_prompts") + _rows("code_eval"):
        assert set(row["visible_tests"].splitlines()[1:]) <= set(row["tests"].splitlines())
