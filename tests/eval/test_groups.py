"""Every suite broken down by a row column: per-group counts, values and intervals, and paired changes per group
flagged when negative outside noise — on hand-made results whose verdicts can be worked out, then end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.evaluation import evaluate
from align.evaluation.group_table import WORSE, group_change_rows, group_rows
from align.evaluation.groups import add_group_statistics, group_labels
from align.evaluation.settings import EvalSettings
from align.evaluation.stats import add_statistics
from align.evaluation.suites import prepare
from align.report.group_section import groups_section

LEVELS = [1] * 40 + [2] * 40


def _results() -> dict:
    """sft right on all of level 1 and on 10 of level 2; dpo breaks 20 level-1 problems and fixes 25 of level 2:
    the suite as a whole rises (50 -> 55 of 80) while level 1 falls."""
    sft = [1.0] * 40 + [1.0] * 10 + [0.0] * 30
    dpo = [1.0] * 20 + [0.0] * 20 + [1.0] * 35 + [0.0] * 5
    suite = lambda values: {"metrics": {}, "per_problem": {"accuracy": values}, "groups": {"level": LEVELS}, "n": 80}  # noqa: E731
    return {
        "target": "run",
        "settings": {"suites": ["math"], "group_by": ["level"]},
        "models": {
            "sft": {"init": None, "suites": {"math": suite(sft)}},
            "dpo": {"init": "sft", "suites": {"math": suite(dpo)}},
        },
    }


def test_group_labels_keep_only_columns_every_row_carries():
    rows = [{"level": 1, "kind": "add"}, {"level": 2}]
    assert group_labels(rows, ["level", "kind", "missing"]) == {"level": [1, 2]}
    assert group_labels([], ["level"]) == {}


def test_a_group_that_fell_is_flagged_while_the_suite_rose():
    results = add_group_statistics(add_statistics(_results()))
    overall = results["comparisons"][0]
    assert overall["diff"] == pytest.approx(5 / 80) and overall["worsened"] == 20
    by_level = results["models"]["dpo"]["suites"]["math"]["by_group"]["level"]
    assert list(by_level) == ["1", "2"] and by_level["1"]["n"] == 40
    assert by_level["1"]["metrics"]["accuracy"] == 0.5 and by_level["2"]["metrics"]["accuracy"] == 35 / 40
    low, high = by_level["1"]["intervals"]["accuracy"]
    assert low < 0.5 < high
    changes = {c["group"]: c for c in results["group_changes"]}
    # Level 1: 20 broken, none fixed -> exact McNemar 2 / 2^20, interval all below zero.
    assert changes["1"]["worse"] and changes["1"]["high"] < 0 and changes["1"]["p"] == pytest.approx(2 / 2**20)
    assert (changes["1"]["improved"], changes["1"]["worsened"], changes["1"]["n"]) == (0, 20, 40)
    assert not changes["2"]["worse"] and changes["2"]["low"] > 0
    rows = group_rows(results)
    assert rows[0] == ["math accuracy", "level = 1", "40", "1.000 (40/40)", f"0.500 (20/40) -0.500 {WORSE}"]
    assert rows[1] == ["math accuracy", "level = 2", "40", "0.250 (10/40)", "0.875 (35/40) +0.625"]
    flagged = group_change_rows(results, only_worse=True)
    assert len(flagged) == 1 and flagged[0][:4] == ["sft → dpo", "math accuracy", "level = 1", "40"]


def test_groups_of_other_problems_are_not_paired():
    results = _results()
    results["models"]["sft"]["suites"]["math"]["groups"] = {"level": [2] * 40 + [1] * 40}
    assert add_group_statistics(add_statistics(results))["group_changes"] == []
    # Each policy's own breakdown is still there.
    assert results["models"]["sft"]["suites"]["math"]["by_group"]["level"]["1"]["metrics"]["accuracy"] == 0.25


def test_report_section_lists_groups_counts_and_the_flag():
    results = add_group_statistics(add_statistics(_results()))
    text = groups_section(results)
    assert text.startswith("## Evaluation by group")
    assert f"| math accuracy | level = 1 | 40 | 1.000 (40/40) | 0.500 (20/40) -0.500 {WORSE} |" in text
    assert "(1 flagged)" in text
    assert "| sft → dpo | math accuracy | level = 1 | 40 | 1.000 → 0.500 | -0.500 [" in text
    assert groups_section({**results, "models": {"x": {"suites": {}}}}) == ""


def test_code_suite_labels_its_problems_by_kind():
    suite = prepare("code", EvalSettings(suites=("code",), limit=3))
    rows = [json.loads(line) for line in Path(suite.source).read_text().splitlines()[:3]]
    result = suite.score([r["solution"] for r in rows], None)
    assert result["groups"] == {"kind": [r["kind"] for r in rows]}


def test_evaluate_stores_labels_and_breaks_each_suite_down(tiny_model: str, tmp_path: Path, capsys):
    rows = [{"prompt": f"What is {a} + 1?", "answer": str(a + 1), "level": 1 + a % 2, "topic": "sum"} for a in range(4)]
    data = tmp_path / "math.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval.json"
    common = {"out": out, "math_data": str(data), "max_new_tokens": 4, "backend": "hf"}
    evaluate(tiny_model, ["math"], **common, group_by=["level", "topic"])
    math = json.loads(out.read_text())["models"][tiny_model]["suites"]["math"]
    assert math["groups"] == {"level": [1, 2, 1, 2], "topic": ["sum"] * 4}
    assert {g: s["n"] for g, s in math["by_group"]["level"].items()} == {"1": 2, "2": 2}
    assert "level = 1" in capsys.readouterr().out
    # A breakdown by other columns is another question: the policy is evaluated again, with the new labels only.
    evaluate(tiny_model, ["math"], **common, group_by=["topic"])
    assert set(json.loads(out.read_text())["models"][tiny_model]["suites"]["math"]["groups"]) == {"topic"}
