"""`align data convert`: public rated sets to reward rows from the align CLI, one-line errors on bad input, and
a reward stage training on the converted ratings and pairs together."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from align.cli import main
from align.config.load import load_recipe
from align.runner import run_recipe
from reward.jsonl import read_jsonl

HELPSTEER = [
    {"prompt": "Explain DNS.", "response": "DNS maps names to IP addresses.",
     "helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 1, "verbosity": 1},
    {"prompt": "Explain DNS.", "response": "DNS is a kind of database, I think, and it does stuff with names...",
     "helpfulness": 2, "correctness": 2, "coherence": 4, "complexity": 1, "verbosity": 3},
    {"prompt": "Say hi.", "response": "Hi!",
     "helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 0, "verbosity": 0},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_align_data_convert_writes_ratings_and_pairs(tmp_path: Path, capsys):
    source, out = write_jsonl(tmp_path / "hs2.jsonl", HELPSTEER), tmp_path / "rows.jsonl"
    assert main(["data", "convert", "helpsteer2", str(source), "--out", str(out)]) == 0
    rows = read_jsonl(out)
    assert sum("ratings" in r for r in rows) == 3 and sum("dimension" in r for r in rows) == 3
    assert "6 rows (3 rated responses, 3 pairs)" in capsys.readouterr().out


def test_left_out_responses_are_counted_and_strict_refuses_them(tmp_path: Path, capsys):
    unrated = {"prompt": "Say hi.", "response": "Hello."}  # no attribute align maps
    source = write_jsonl(tmp_path / "hs2.jsonl", [*HELPSTEER, unrated, HELPSTEER[2]])  # and a duplicate response
    out = tmp_path / "rows.jsonl"
    assert main(["data", "convert", "helpsteer2", str(source), "--out", str(out)]) == 0
    left_out = "left out: 1 pairs of identical responses, 1 responses with no mapped rating"
    assert capsys.readouterr().out == f"{out}: 7 rows (4 rated responses, 3 pairs); {left_out}\n"
    assert main(["data", "convert", "helpsteer2", str(source), "--out", str(tmp_path / "o.jsonl"), "--strict"]) == 2
    assert capsys.readouterr().err == (
        f"error: {source}: 1 pairs of identical responses, 1 responses with no mapped rating (--strict)\n"
    )
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_convert_input_is_one_line(tmp_path: Path, capsys):
    source = write_jsonl(tmp_path / "uf.jsonl", [{"instruction": "q", "completions": []}, {"prompt": "q"}])
    assert main(["data", "convert", "ultrafeedback", str(source), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {source}: row 2: not a ultrafeedback row (missing instruction, completions)\n"
    assert main(["data", "convert", "helpsteer2", str(tmp_path / "absent.jsonl"), "--out", "o.jsonl"]) == 2
    assert "absent.jsonl: no such file" in capsys.readouterr().err
    assert main(["data", "convert", "anthropic-hh", str(source), "--out", "o.jsonl"]) == 2
    assert "invalid choice: 'anthropic-hh'" in capsys.readouterr().err


def test_reward_stage_trains_on_converted_ratings_and_pairs(tmp_path: Path, tiny_bert_path: Path, tiny_model: str):
    source, rows = write_jsonl(tmp_path / "hs2.jsonl", HELPSTEER), tmp_path / "rows.jsonl"
    assert main(["data", "convert", "helpsteer2", str(source), "--out", str(rows)]) == 0
    stage = {
        "name": "reward", "kind": "reward", "backbone": str(tiny_bert_path), "data": str(rows), "likelihood": [],
        "max_steps": 2, "batch_size": 6, "max_length": 32, "report_to": [],
    }  # fmt: skip
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"model": tiny_model, "stages": [stage]}))
    outcome = run_recipe(load_recipe(recipe), tmp_path / "run")[-1]
    assert outcome.status == "ran"
    assert outcome.metrics["train/examples"] == 6 and outcome.metrics["train/rated"] == 3
