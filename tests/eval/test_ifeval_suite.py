"""The ifeval suites: IFEval's four metrics on fixed answers, their intervals and paired stage-to-stage tests,
any file in IFEval's row format through `--ifeval-data`, and an un-checkable row refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.evaluation import evaluate
from align.evaluation.cli import main
from align.evaluation.settings import EvalSettings
from align.evaluation.stats import add_statistics
from align.evaluation.suites import prepare

ROWS = [
    {"key": 1, "prompt": "Say hi. Do not use commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {
        "key": 2,
        "prompt": "Describe tea in lowercase, ending with 'bye.'",
        "instruction_id_list": ["change_case:english_lowercase", "startend:end_checker"],
        "kwargs": [{}, {"end_phrase": "bye."}],
    },
    {
        "key": 3,
        "prompt": "Name a colour with a title and a P.S.",
        "instruction_id_list": ["detectable_format:title", "detectable_content:postscript", "punctuation:no_comma"],
        "kwargs": [{}, {"postscript_marker": "P.S."}, {}],
    },
]


@pytest.fixture
def ifeval_file(tmp_path: Path) -> Path:
    path = tmp_path / "ifeval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_prompt_and_instruction_level_accuracy_strict_and_loose(ifeval_file: Path) -> None:
    suite = prepare("ifeval", EvalSettings(suites=("ifeval",), ifeval_data=str(ifeval_file)))
    answers = [
        "hi there",  # 1/1
        "tea is warm. **bye.**",  # lowercase met; the end phrase only loosely (markdown)
        "<<Blue>>\n\nBlue, like the sky.\n\nP.S. I like it.",  # title and P.S. met, a comma
    ]
    result = suite.score(answers, None)
    # Prompt-level: only the first answer meets everything strictly; loose forgives the second's markdown.
    assert result["metrics"]["prompt_strict"] == pytest.approx(1 / 3)
    assert result["metrics"]["prompt_loose"] == pytest.approx(2 / 3)
    # Instruction-level pools the 6 constraints: strict 1 + 1 + 2 = 4, loose 1 + 2 + 2 = 5.
    assert result["metrics"]["instruction_strict"] == pytest.approx(4 / 6)
    assert result["metrics"]["instruction_loose"] == pytest.approx(5 / 6)
    assert result["constraints"] == 6 and result["clusters"] == ["1", "2", "3"]


def test_intervals_and_a_paired_stage_to_stage_test(ifeval_file: Path) -> None:
    suite = prepare("ifeval", EvalSettings(suites=("ifeval",), ifeval_data=str(ifeval_file)))
    before = suite.score(["a, b", "Tea.", "Blue, sky."], None)
    after = suite.score(["hi there", "tea is warm. bye.", "<<Blue>>\n\nBlue sky.\n\nP.S. yes"], None)
    results = add_statistics(
        {"models": {"base": {"suites": {"ifeval": before}}, "sft": {"init": "base", "suites": {"ifeval": after}}}}
    )
    low, high = results["models"]["sft"]["suites"]["ifeval"]["intervals"]["instruction_strict"]
    assert low <= after["metrics"]["instruction_strict"] <= high
    by_metric = {c["metric"]: c for c in results["comparisons"]}
    assert by_metric["prompt_strict"]["test"] == "McNemar exact"
    assert (by_metric["prompt_strict"]["improved"], by_metric["prompt_strict"]["worsened"]) == (3, 0)
    assert by_metric["instruction_strict"]["diff"] == pytest.approx(1.0)
    assert by_metric["instruction_strict"]["test"] == "paired bootstrap"


def test_any_ifeval_format_file_end_to_end_on_a_model(tiny_model: str, ifeval_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.json"
    assert (
        main(
            [
                tiny_model,
                "--suite",
                "ifeval",
                "--ifeval-data",
                str(ifeval_file),
                "--max-new-tokens",
                "4",
                "--backend",
                "hf",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    suite = json.loads(out.read_text())["models"][tiny_model]["suites"]["ifeval"]
    assert suite["n"] == 3 and suite["source"] == str(ifeval_file)
    assert set(suite["intervals"]) == {"prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose"}


def test_the_unseen_constraints_suite_reads_the_shipped_ifbench_set(tiny_model: str, tmp_path: Path) -> None:
    results = evaluate(
        tiny_model, ["ifeval_unseen"], limit=2, max_new_tokens=4, backend="hf", show=False, out=tmp_path / "e.json"
    )
    suite = results["models"][tiny_model]["suites"]["ifeval_unseen"]
    assert suite["source"].endswith("data/instruct/eval_ifbench.jsonl") and suite["n"] == 2


def test_a_row_that_cannot_be_checked_offline_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "bad.jsonl"
    row = {"prompt": "x", "instruction_id_list": ["made:up"], "kwargs": [{}]}
    path.write_text(json.dumps(row) + "\n")
    assert main(["smollm2-135m-instruct", "--suite", "ifeval", "--ifeval-data", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "row 1" in err and "made:up" in err and "\n" not in err
