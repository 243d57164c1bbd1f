"""Evaluating a model target end to end on the tiny random model, and the CLI's handling of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.evaluation import evaluate
from align.evaluation.cli import main


def test_model_target_on_math_writes_json_and_prints_a_table(
    tiny_model: str, math_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "eval.json"
    results = evaluate(
        tiny_model, ["math"], samples=3, limit=3, out=out, math_data=str(math_file), max_new_tokens=8, backend="hf"
    )
    math = results["models"][tiny_model]["suites"]["math"]
    assert 0.0 <= math["metrics"]["accuracy"] <= 1.0
    assert 0.0 <= math["metrics"]["pass@3"] <= 1.0
    assert math["n"] == 3 and math["undecided"] == 0
    assert math["examples"][0]["reference"] == "5"
    assert json.loads(out.read_text())["models"][tiny_model]["suites"]["math"]["metrics"] == math["metrics"]
    printed = capsys.readouterr().out
    assert "math accuracy" in printed and "pass@3" in printed and str(out) in printed


def test_cli_evaluates_a_model_and_notes_a_skipped_suite(
    tiny_model: str, math_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "cli.json"
    argv = [tiny_model, "--suite", "math,chat", "--limit", "2", "--max-new-tokens", "4", "--backend", "hf"]
    code = main([*argv, "--math-data", str(math_file), "--out", str(out)])
    assert code == 0
    suites = json.loads(out.read_text())["models"][tiny_model]["suites"]
    assert suites["math"]["n"] == 2
    assert "no reward model" in suites["chat"]["skipped"]
    assert "chat skipped" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/no/such/run"], "no such folder"),
        (["runs-that-do-not-exist/x/y"], "no such folder"),
        (["smollm2-135m-instruct", "--suite", "math,poetry"], "unknown suite poetry"),
        (["smollm2-135m-instruct", "--samples", "0"], "samples must be at least 1"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_a_folder_that_is_neither_run_stage_nor_model_is_rejected(tmp_path: Path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main([str(tmp_path)]) == 2
    assert "not a run folder, a stage artifact or a model folder" in capsys.readouterr().err


def test_the_out_of_template_math_set_is_a_named_suite_with_keys(tiny_model: str, tmp_path: Path):
    results = evaluate(
        tiny_model, ["math", "math_ood"], limit=3, out=tmp_path / "e.json", max_new_tokens=4, backend="hf", show=False
    )
    suites = results["models"][tiny_model]["suites"]
    assert suites["math_ood"]["source"].endswith("data/math/eval_ood.jsonl")
    assert suites["math"]["source"].endswith("data/math/eval.jsonl")
    ood_prompts = [e["prompt"] for e in suites["math_ood"]["examples"]]
    assert not any(p.startswith("What is") for p in ood_prompts)
    for suite in suites.values():
        assert suite["n"] == 3 and len(suite["clusters"]) == 3 and len(suite["per_problem"]["accuracy"]) == 3
        assert set(suite["intervals"]) == {"accuracy"}
