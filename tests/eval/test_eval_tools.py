"""`align eval --tools`: answers are the last turns of episodes run like GRPO's, and eval.json counts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.agents.calls import guard_tool_calls
from align.agents.episode import Toolbox
from align.agents.resolve import resolve_tools
from align.agents.rollout import EpisodeSampler, tool_suffix_ids
from align.cli import main
from align.models.tool_template import with_tool_template

CALL = '<tool_call>\n{"name": "python", "arguments": {"code": "print(6 * 7)"}}\n</tool_call><|im_end|>'
BROKEN = '<tool_call>\n{"name": "python", "arguments": {"code": "print(1)"\n</tool_call><|im_end|>'


def test_an_episode_calls_the_tool_reads_it_and_answers(tiny_model: str, monkeypatch: pytest.MonkeyPatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import align.agents.rollout as rollout

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    with_tool_template(tokenizer)
    toolbox = Toolbox(resolve_tools(["python"], "t"), tokenizer, 64, 5.0, "t")
    guard_tool_calls(tokenizer, toolbox.names)
    seen: list[list[int]] = []
    turns = iter([[CALL, BROKEN], ["The answer is \\boxed{42}.<|im_end|>", CALL]])

    def scripted(model, prompts, **kwargs):
        seen.extend(list(p) for p in prompts)
        return [[tokenizer(text)["input_ids"]] for text in next(turns)]

    monkeypatch.setattr(rollout, "sample_ids", scripted)
    sampler = EpisodeSampler(AutoModelForCausalLM.from_pretrained(tiny_model), tokenizer, toolbox, max_turns=2)
    prompts = [[{"role": "user", "content": "6 × 7?"}], [{"role": "user", "content": "1?"}]]
    answers = sampler.sample(prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=32, seed=0)
    assert answers[0] == ["The answer is \\boxed{42}."]
    assert answers[1] == [""]  # still calling a tool at the turn limit: no answer, counted as cut
    first_turn, second_turn = seen[0], seen[2]
    expected = first_turn + tokenizer(CALL)["input_ids"] + tool_suffix_ids(tokenizer, [_result("42")])
    assert second_turn == expected  # the model's own tokens, then the template's rendering of the result
    assert "error: malformed tool call" in tokenizer.decode(seen[3])
    counts = dict(sampler.counts)
    assert counts == {"turns": 4, "cut_by_turn_limit": 1, "episodes": 2, "calls": 2, "errors": 1, "malformed": 1}


def _result(content: str) -> dict:
    return {"role": "tool", "name": "python", "content": content}


def test_align_eval_with_tools_writes_the_counts(tiny_model: str, tmp_path: Path):
    out = tmp_path / "eval.json"
    args = [tiny_model, "--suite", "math", "--limit", "2", "--tools", "python", "--max-turns", "2"]
    assert main(["eval", *args, "--backend", "hf", "--max-new-tokens", "8", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["settings"]["tools"] == ["python"] and results["settings"]["max_turns"] == 2
    ((name, entry),) = results["models"].items()
    suite = entry["suites"]["math"]
    assert suite["tools"]["episodes"] == 2 and suite["tools"]["turns"] >= 2
    assert len(suite["without_tools"]["per_problem"]["accuracy"]) == 2
    (change,) = [c for c in results["comparisons"] if c["model"] == f"{name} with tools"]
    assert change["against"] == f"{name} without tools" and change["n"] == 2 and change["metric"] == "accuracy"


VISIBLE = "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(0) == 0\n"
HELD_OUT = VISIBLE + "    assert candidate(5) == 10\n"
# Fails only the first visible check / only the held-out check.
FAILS_VISIBLE = "def double(x):\n    return 5 if x == 2 else 2 * x\n"
FAILS_HELD_OUT = "def double(x):\n    return 2 * x if x < 5 else 0\n"
RIGHT = "def double(x):\n    return 2 * x\n"


def _code_rows(path: Path, **columns: str) -> Path:
    row = {"prompt": "Write double(x).", "code_prompt": "def double(x):\n", "tests": HELD_OUT, "entry_point": "double"}
    path.write_text("".join(json.dumps({**row, "task_id": str(i), **columns}) + "\n" for i in range(2)))
    return path


def _tests_call(code: str) -> str:
    call = {"name": "tests", "arguments": {"code": code}}
    return f"<tool_call>\n{json.dumps(call)}\n</tool_call><|im_end|>"


def test_the_tests_tool_in_eval_runs_each_rows_visible_tests(
    tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two feedback-reading episodes on the code suite: the tool shows the failing visible check to the candidate
    that fails one, and "2/2 visible tests passed" to the one that fails only a held-out check; pass@1 with tools is
    then paired with the same policy answering in one turn."""
    from transformers import AutoTokenizer

    import align.agents.rollout as rollout

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    data = _code_rows(tmp_path / "code.jsonl", visible_tests=VISIBLE)
    seen: list[list[int]] = []
    fenced = "```python\n{}```<|im_end|>".format
    turns = iter([[_tests_call(FAILS_VISIBLE), _tests_call(FAILS_HELD_OUT)], [fenced(RIGHT), fenced(FAILS_HELD_OUT)]])

    def scripted(model, prompts, **kwargs):
        seen.extend(list(p) for p in prompts)
        return [[tokenizer(text)["input_ids"]] for text in next(turns)]

    monkeypatch.setattr(rollout, "sample_ids", scripted)
    out = tmp_path / "eval.json"
    args = [tiny_model, "--suite", "code", "--code-data", str(data), "--tools", "tests", "--max-turns", "3"]
    assert main(["eval", *args, "--backend", "hf", "--max-new-tokens", "8", "--out", str(out)]) == 0
    first_feedback, second_feedback = (tokenizer.decode(ids) for ids in seen[2:4])
    assert "1/2 visible tests passed\nFAILED assert candidate(2) == 4 -> AssertionError" in first_feedback
    assert "2/2 visible tests passed" in second_feedback and "candidate(5)" not in second_feedback
    results = json.loads(out.read_text())
    ((name, entry),) = results["models"].items()
    suite = entry["suites"]["code"]
    assert suite["per_problem"]["pass@1"] == [1.0, 0.0]  # scored on the held-out tests
    assert suite["tools"]["calls"] == 2 and suite["tools"]["episodes"] == 2
    assert len(suite["without_tools"]["per_problem"]["pass@1"]) == 2
    (change,) = [c for c in results["comparisons"] if c["model"] == f"{name} with tools"]
    assert change["against"] == f"{name} without tools" and change["metric"] == "pass@1" and change["n"] == 2


@pytest.mark.parametrize(
    ("suite", "data", "named"),
    [("code", "code.jsonl", "code.jsonl: row 1: no 'visible_tests'"), ("math", None, "--suite math")],
)
def test_eval_refuses_the_tests_tool_on_rows_without_visible_tests(
    tiny_model: str, tmp_path: Path, capsys, suite: str, data: str | None, named: str
):
    args = ["eval", tiny_model, "--suite", suite, "--tools", "tests", "--backend", "hf", "--out", str(tmp_path / "e")]
    if data is not None:
        args += ["--code-data", str(_code_rows(tmp_path / data))]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert named in err and "visible_tests" in err and len(err.strip().splitlines()) == 1


def test_tools_sample_with_hf_generate_under_auto_even_where_vllm_is_installed(
    tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`auto` is vLLM where it is installed; tool episodes run on HF generate, so `auto` must pick HF for them."""
    import align.generation.backend as backend

    monkeypatch.setattr(backend, "vllm_available", lambda: True)
    out = tmp_path / "eval.json"
    args = [tiny_model, "--suite", "math", "--limit", "1", "--tools", "python", "--max-turns", "2"]
    assert main(["eval", *args, "--max-new-tokens", "4", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["settings"]["backend"] == "hf"
    assert next(iter(results["models"].values()))["suites"]["math"]["tools"]["episodes"] == 1


def test_tools_with_the_vllm_backend_are_one_line_before_any_model_loads(tmp_path: Path, capsys):
    args = ["eval", "no/such-model", "--suite", "math", "--tools", "python", "--backend", "vllm"]
    assert main([*args, "--out", str(tmp_path / "e.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--tools" in err and "--backend hf" in err and len(err.splitlines()) == 1
