"""`align reward score` (reward.model.cli.main): output rows, weights, and one-line errors on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reward.dimensions import DIMENSIONS
from reward.model.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    rows = [
        {"prompt": "What is 2+2?", "completion": "4", "id": 1},
        {"prompt": "Name a colour.", "completion": "Blue."},
        {"prompt": "Why is the sky blue?", "completion": "Rayleigh scattering of sunlight."},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")  # a trailing blank line is fine
    return path


def test_score_writes_one_line_per_row_with_six_scores_and_their_sum(
    tiny_reward_model_path: Path, rows_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--model", str(tiny_reward_model_path), str(rows_file), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert set(line) == {*DIMENSIONS, "total"}
        assert line["total"] == pytest.approx(sum(line[d] for d in DIMENSIONS))


def test_weights_override_the_named_dimensions_only(
    tiny_reward_model_path: Path, rows_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["score", "--model", str(tiny_reward_model_path), str(rows_file)]
    assert main([*args, "--weights", "truthfulness=2, conciseness=0"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    weights = {**dict.fromkeys(DIMENSIONS, 1.0), "truthfulness": 2.0, "conciseness": 0.0}
    for line in lines:
        assert line["total"] == pytest.approx(sum(weights[d] * line[d] for d in DIMENSIONS))


def bad_json(path: Path) -> Path:
    path.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": "p", \n')
    return path


def missing_key(path: Path) -> Path:
    path.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": "p", "answer": "c"}\n')
    return path


@pytest.mark.parametrize(
    ("make_input", "model", "extra", "expected"),
    [
        (lambda tmp: tmp / "absent.jsonl", None, [], "absent.jsonl: no such file"),
        (lambda tmp: bad_json(tmp / "bad.jsonl"), None, [], "bad.jsonl:2: invalid JSON"),
        (lambda tmp: missing_key(tmp / "rows.jsonl"), None, [], "rows.jsonl row 2: missing string key 'completion'"),
        (None, "missing", [], "no such folder"),
        (None, "plain", [], "not a reward model"),
        (None, None, ["--weights", "politeness=1"], "'politeness=1' is not dimension=weight"),
        (None, None, ["--weights", "helpfulness=lots"], "'lots' for 'helpfulness' is not a number"),
        (None, None, ["--weights", "helpfulness=-1"], "non-negative"),
        (None, None, ["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_status_2(
    make_input,
    model: str | None,
    extra: list[str],
    expected: str,
    tiny_reward_model_path: Path,
    tiny_bert_path: Path,
    rows_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = make_input(tmp_path) if make_input else rows_file
    # "plain": a BERT folder without reward heads.
    model_path = {"plain": tiny_bert_path, "missing": tmp_path / "nowhere"}.get(model, tiny_reward_model_path)
    assert main(["score", "--model", str(model_path), str(source), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert expected in captured.err


def test_python_dash_m_entry_point_scores_a_file(tiny_reward_model_path: Path, rows_file: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(
        [sys.executable, "-m", "reward.model", "score", "--model", str(tiny_reward_model_path), str(rows_file)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert len(ok.stdout.splitlines()) == 3
