"""The code suite scores through the real sandbox; the chat suite through a real (tiny) six-head reward model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.data.load import humaneval_rows
from align.evaluation import evaluate
from align.evaluation.cli import main
from align.evaluation.settings import EvalSettings
from align.evaluation.suites import SuiteUnavailableError, prepare
from align.evaluation.suites import code as code_suite
from align.evaluation.textstats import DESCRIPTIVE_METRICS, length_words
from align.runtime.errors import AlignError

BROKEN = "    return None\n"


def test_code_suite_pass_at_1_and_pass_at_k_from_sandbox_verdicts():
    suite = prepare("code", EvalSettings(suites=("code",), samples=3, limit=2, code_data="humaneval:eval"))
    assert len(suite.prompts) == 2 and "```python" in suite.prompts[0][0]["content"]
    first = humaneval_rows("eval")[0]["solution"]
    result = suite.score([first, BROKEN], [[BROKEN, first, BROKEN], [BROKEN, BROKEN, BROKEN]])
    assert result["metrics"] == {"pass@1": 0.5, "pass@3": 0.5}
    assert [e["passed"] for e in result["examples"]] == [True, False]


def test_code_suite_end_to_end_on_a_model(tiny_model: str):
    results = evaluate(
        tiny_model, ["code"], limit=1, max_new_tokens=8, backend="hf", show=False, code_data="humaneval:eval"
    )
    code = results["models"][tiny_model]["suites"]["code"]
    assert code["n"] == 1 and code["source"] == "HumanEval (eval split)"
    assert code["metrics"]["pass@1"] == 0.0  # a random 2-layer model writes no working function


def test_code_suite_is_skipped_with_the_reason_when_the_split_is_missing(monkeypatch: pytest.MonkeyPatch):
    def missing(split: str):
        raise AlignError("humaneval:eval: HumanEval split file missing")

    monkeypatch.setattr(code_suite, "humaneval_rows", missing)
    with pytest.raises(SuiteUnavailableError, match="split file missing"):
        prepare("code", EvalSettings(suites=("code",), code_data="humaneval:eval"))


def test_chat_suite_reports_a_mean_per_reward_dimension(tiny_model: str, tiny_reward_model: Path, tmp_path: Path):
    prompts = tmp_path / "chat.jsonl"
    rows = [{"prompt": "Say hi."}, {"prompt": "Name a colour."}, {"prompt": "Say hi."}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = evaluate(
        tiny_model, ["chat"], reward=tiny_reward_model, chat_data=str(prompts), max_new_tokens=4, show=False
    )
    chat = results["models"][tiny_model]["suites"]["chat"]
    assert chat["n"] == 2  # the repeated prompt is answered once
    assert set(chat["metrics"]) == {
        "truthfulness", "helpfulness", "conciseness", "relevance", "harmlessness", "debiasing", "total",
        "length_words", "repetition_3gram", "opens_yes", "negates",
    }  # fmt: skip
    assert all(isinstance(v, float) for v in chat["metrics"].values())
    rewards = {k: v for k, v in chat["metrics"].items() if k not in DESCRIPTIVE_METRICS}
    assert rewards["total"] == pytest.approx(sum(v for k, v in rewards.items() if k != "total"))
    # Every answer is kept with its prompt, in per_problem order, and its length is its own word count.
    answers = chat["answers"]
    assert [a["prompt"] for a in answers] == ["Say hi.", "Name a colour."]
    assert chat["per_problem"]["length_words"] == [float(length_words(a["completion"])) for a in answers]
    # The metrics are the means of the per-answer scores the intervals resample.
    for metric, values in chat["per_problem"].items():
        assert len(values) == 2 and chat["metrics"][metric] == pytest.approx(sum(values) / 2)
        low, high = chat["intervals"][metric]
        assert min(values) - 1e-9 <= low <= chat["metrics"][metric] <= high <= max(values) + 1e-9


def test_a_folder_that_is_not_a_reward_model_is_rejected(tiny_model: str, tmp_path: Path, capsys):
    assert main([tiny_model, "--suite", "chat", "--reward", str(tmp_path)]) == 2
    assert "not a reward model" in capsys.readouterr().err


def test_chat_suite_judged_by_an_llm_endpoint(tiny_model: str, tmp_path: Path, judge_server):
    prompts = tmp_path / "chat.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ("Name a fruit.", "Say hi.")))
    results = evaluate(
        tiny_model, ["chat"], judge=judge_server["url"], chat_data=str(prompts), max_new_tokens=4, show=False
    )
    chat = results["models"][tiny_model]["suites"]["chat"]
    assert chat["n"] == 2 and chat["undecided"] == 0
    # The stand-in rates by the answer's length whatever the rubric: every dimension has the same mean.
    means = {v for k, v in chat["metrics"].items() if k not in ("total", *DESCRIPTIVE_METRICS)}
    assert len(means) == 1 and 0.0 <= means.pop() <= 1.0
    assert len(judge_server["requests"]) == 2 * 6  # one rating per answer per dimension
    # Per-answer scores behind the means, so the chat metrics get intervals too.
    assert set(chat["per_problem"]) == set(chat["metrics"]) and set(chat["intervals"]) == set(chat["metrics"])
    assert all(len(values) == 2 for values in chat["per_problem"].values())
    assert set(DESCRIPTIVE_METRICS) <= set(chat["metrics"]) and len(chat["answers"]) == 2


def test_code_suite_defaults_to_the_shipped_procedural_problems():
    suite = prepare("code", EvalSettings(suites=("code",), limit=2))
    assert suite.source.endswith("data/code/eval.jsonl")
    rows = [json.loads(line) for line in Path(suite.source).read_text().splitlines()[:2]]
    result = suite.score([rows[0]["solution"], BROKEN], None)
    assert result["metrics"] == {"pass@1": 0.5}
    assert result["per_problem"] == {"pass@1": [1.0, 0.0]} and result["clusters"] == [r["key"] for r in rows]


def test_a_code_file_without_tests_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "code.jsonl"
    bad.write_text(json.dumps({"prompt": "Write f."}) + "\n")
    assert main(["smollm2-135m-instruct", "--suite", "code", "--code-data", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {bad}: row 1: missing column(s) tests"


def test_chat_rows_without_a_prompt_are_an_error_not_skipped(tmp_path: Path):
    from align.evaluation.settings import EvalSettings
    from align.evaluation.suites.chat import prepare
    from align.runtime.errors import AlignError

    prompts = tmp_path / "chat.jsonl"
    prompts.write_text('{"prompt": "Hi."}\n{"chosen": "a", "rejected": "b"}\n{"prompt": "Bye."}\n')
    with pytest.raises(AlignError, match=rf"^{prompts}: row 2: no 'prompt' \(1 of 3 rows have none\)$"):
        prepare(EvalSettings(suites=("chat",), chat_data=str(prompts), reward=str(tmp_path / "unused")))
