"""`align reward score --hub / --judge`: the GRPO reward sources scoring a file, totals by the one rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reward.model.cli import main


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    rows = [{"prompt": "Name a fruit.", "completion": "A banana."}, {"prompt": "Name a fruit.", "completion": "???"}]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_hub_outputs_map_to_dimensions(tiny_classifier: str, rows_file: Path, capsys):
    args = ["score", "--hub", tiny_classifier, "--outputs", "helpfulness=helpfulness,conciseness=2", str(rows_file)]
    assert main([*args, "--weights", "conciseness=0.5"]) == 0
    out = lines(capsys.readouterr().out)
    assert [set(row) for row in out] == [{"helpfulness", "conciseness", "total"}] * 2
    for row in out:
        assert row["total"] == pytest.approx(row["helpfulness"] + 0.5 * row["conciseness"])


def test_judge_endpoint_scores_and_counts_unreadable(judge_server, rows_file: Path, capsys):
    args = ["score", "--judge", judge_server["url"], "--dimensions", "helpfulness,relevance", str(rows_file)]
    assert main(args) == 0
    captured = capsys.readouterr()
    out = lines(captured.out)
    assert out[0] == {
        "helpfulness": pytest.approx(2 / 9),
        "relevance": pytest.approx(2 / 9),
        "total": pytest.approx(4 / 9),
    }
    assert out[1] == {"helpfulness": None, "relevance": None, "total": None}
    assert "judge stand-in-judge at" in captured.err and "2 unreadable replies" in captured.err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--hub", "X", "--outputs", "style=0"], "--outputs: 'style=0' is not dimension=output"),
        (["--judge", "X", "--dimensions", "style"], "--dimensions: ['style'] not among"),
        (["--hub", "X", "--judge", "Y"], "not allowed with argument"),
    ],
)
def test_bad_source_arguments_are_one_line(rows_file: Path, capsys, extra: list[str], expected: str):
    assert main(["score", *extra, str(rows_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and len(err.strip().splitlines()) == 1
