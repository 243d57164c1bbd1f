"""kill -9 during the run's final evaluation: the re-run finishes it, reusing every (policy, suite) already
done, and eval.json equals an uninterrupted run's (greedy decoding is deterministic). A killed evaluation never
leaves an eval.json behind that a report or a later run could take for the whole result.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml

from tests.integration.test_kill_resume import align_run

pytestmark = [pytest.mark.integration, pytest.mark.resume]


@pytest.fixture
def recipe(tmp_path: Path, digit_model: str, chat_file: Path) -> Path:
    path = tmp_path / "eval.yaml"
    sft = {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 2, "batch_size": 2}
    recipe = {
        "name": "evalkill",
        "model": digit_model,
        "lora": {"r": 4, "alpha": 8},
        "stages": [{**sft, "report_to": [], "max_length": 64}],
        "eval": {"suites": ["math", "math_ood"], "limit": 4, "max_new_tokens": 8},
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


def comparable(run_dir: Path) -> dict:
    """eval.json without what legitimately differs between two runs: where they ran, when, how long it took."""
    results = json.loads((run_dir / "eval.json").read_text().replace(str(run_dir), "RUN"))
    results.pop("created_at")
    for entry in results["models"].values():
        for suite in entry["suites"].values():
            suite.pop("seconds")
    return results


def test_killed_during_evaluation_the_rerun_completes_it_and_equals_an_uninterrupted_run(
    recipe: Path, tmp_path: Path
):
    reference = tmp_path / "reference"
    done = align_run(recipe, reference)
    assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "killed"
    partial = run / "eval.json.partial"
    # After the first (policy, suite) result: only it is stored, in the progress file, not in eval.json.
    killed = align_run(recipe, run, crash_at="eval:suite")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (run / "eval.json").exists()
    stored = json.loads(partial.read_text())["models"]
    assert {name: list(entry["suites"]) for name, entry in stored.items()} == {"base": ["math"]}
    first_seconds = stored["base"]["suites"]["math"]["seconds"]

    # Every suite done, eval.json half written (its temporary file exists, the rename has not happened).
    killed = align_run(recipe, run, crash_at=f"write:{run.name}/eval.json")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (run / "eval.json").exists()
    assert sum(len(e["suites"]) for e in json.loads(partial.read_text())["models"].values()) == 4

    final = align_run(recipe, run)
    assert final.returncode == 0, final.stderr[-3000:]
    assert comparable(run) == comparable(reference)
    results = json.loads((run / "eval.json").read_text())
    # Reused, not redone: the stored result keeps the time it took in the first, killed run.
    assert results["models"]["base"]["suites"]["math"]["seconds"] == first_seconds
    assert not partial.exists()
    assert not list(run.glob(".eval.json.*")), "a temporary file of the killed write was left behind"
    report = (run / "report.md").read_text()
    assert "Suites: math, math_ood" in report and "No evaluation yet" not in report
