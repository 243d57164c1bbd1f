"""Pairs from solved prompts (`solved_prompts` of a pairs stage), on the tiny digit model: every answer is "1" or
"2"; at temperature 0.01 the 0.1 logit gap becomes 10 and top-p 0.95 keeps "1" alone, so a prompt answered "1" is
solved by all k samples and one answered "2" fails them all. At temperature 1 "2" comes back with probability
0.475: 24 hot samples all say "1" with probability 0.525^24 = 2e-7."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from align.config.load import load_recipe
from align.runner import run_recipe
from align.runtime.errors import AlignError

REPO = Path(__file__).resolve().parents[2]


def _recipe(tmp_path: Path, model: str, solved: dict | None) -> Path:
    rows = [{"prompt": f"Add a digit ({i}).", "answer": "1", "kind": "sum"} for i in range(3)]
    rows += [{"prompt": f"Take a digit ({i}).", "answer": "2", "kind": "sub"} for i in range(2)]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    pairs = {
        "name": "pairs", "kind": "pairs", "prompts": str(prompts), "verifier": "math", "backend": "hf",
        "k": 4, "temperature": 0.01, "max_new_tokens": 8, "batch_prompts": 2, "max_pairs_per_prompt": 2,
        "balance": {"by": "kind"}, **({"solved_prompts": solved} if solved else {}),
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "solved", "model": model, "stages": [pairs]}))
    return path


def test_solved_prompts_pair_the_right_answer_with_a_hot_wrong_one(tmp_path: Path, digit_model: str):
    path = _recipe(tmp_path, digit_model, {"extra_samples": 24, "temperature": 1.0})
    run_recipe(load_recipe(path), tmp_path / "run")
    stage_dir = tmp_path / "run" / "pairs"
    stats = json.loads((stage_dir / "stats.json").read_text())
    # The three "1" prompts were all solved, so resampled; drop_identical leaves one "1" and one "2": a pair each.
    assert stats["solved_resampled"] == 3
    assert stats["pairs"] == stats["pairs_from_solved"] == 3
    assert stats["skipped"] == {"all_failed": 2}
    # The rates stay those of the k samples at the stage's temperature: 12 of 20 pass, none of the hot ones counted.
    assert stats["samples"] == 20 and stats["pass_rate"] == pytest.approx(12 / 20)
    assert stats["groups"]["sum"]["pairs_from_solved"] == 3 and stats["groups"]["sub"]["pairs_from_solved"] == 0
    written = [json.loads(line) for line in (stage_dir / "pairs.jsonl").read_text().splitlines()]
    assert {(row["chosen"][0]["content"], row["rejected"][0]["content"]) for row in written} == {("1", "2")}
    # Each pair is on its own prompt: the wrong answer was sampled for that prompt, not borrowed from another.
    assert sorted(row["prompt_index"] for row in written) == [1, 3, 4]  # dealt: sub, sum, sub, sum, sum
    metrics = json.loads((stage_dir / "manifest.json").read_text())["metrics"]
    assert metrics["pairs_from_solved"] == 3


def test_without_solved_prompts_the_same_samples_give_no_pair(tmp_path: Path, digit_model: str):
    with pytest.raises(AlignError, match="no pairs"):
        run_recipe(load_recipe(_recipe(tmp_path, digit_model, None)), tmp_path / "run")


def test_a_run_killed_after_a_batch_resumes_to_the_same_pairs(tmp_path: Path, digit_model: str):
    # The hot samples are part of the stored batch and seeded by its index: a resumed stage writes the same bytes.
    path = _recipe(tmp_path, digit_model, {"extra_samples": 24, "temperature": 1.0})
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}

    def align_run(run_dir: Path, crash_at: str | None) -> int:
        command = [sys.executable, "-m", "align", "run", str(path), "--run-dir", str(run_dir)]
        extra = {"ALIGN_CRASH_AT": crash_at} if crash_at else {}
        # Its own process group: the crash point kills the whole group, as `kill -9 -<pgid>` would.
        done = subprocess.run(command, cwd=REPO, env=env | extra, capture_output=True, start_new_session=True)
        return done.returncode

    assert align_run(tmp_path / "killed", "pairs:batch") != 0
    assert [p.name for p in (tmp_path / "killed/pairs/batches").iterdir()] == ["batch-00000.json"]
    assert align_run(tmp_path / "killed", None) == 0
    assert align_run(tmp_path / "whole", None) == 0
    resumed = json.loads((tmp_path / "killed/pairs/manifest.json").read_text())["metrics"]
    assert resumed["batches_resumed"] == 1 and resumed["pairs_from_solved"] == 3
    assert (tmp_path / "killed/pairs/pairs.jsonl").read_bytes() == (tmp_path / "whole/pairs/pairs.jsonl").read_bytes()
