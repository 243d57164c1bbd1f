"""kill -9 anywhere: a real chain on a tiny model, killed (SIGKILL to its process group) at one point after
another, re-run each time with the same command, ends complete — and equal to an uninterrupted run.

The kills come from `ALIGN_CRASH_AT` (align/runtime/crashpoints.py): the run kills its own process group at an exact
point, so what is on disk at the kill does not depend on how fast the machine is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.resume]

REPO = Path(__file__).resolve().parents[2]
STAGES = ("sft", "pairs", "dpo", "reward", "grpo")
# Files whose bytes must not depend on whether the run was killed on the way.
DETERMINISTIC = {
    "sft": "adapter_model.safetensors",
    "pairs": "pairs.jsonl",
    "dpo": "adapter_model.safetensors",
    "reward": "model.safetensors",
    "grpo": "prompt_selection.json",
}


def chain_recipe(model: str, chat: Path, prompts: Path) -> dict:
    train = {"report_to": [], "save_steps": 1, "max_length": 64}
    return {
        "name": "resume",
        "model": model,
        "lora": {"r": 4, "alpha": 8},
        "stages": [
            {"name": "sft", "kind": "sft", "data": str(chat), "max_steps": 3, "batch_size": 2, **train},
            {
                "name": "pairs",
                "kind": "pairs",
                "init": "sft",
                "prompts": str(prompts),
                "verifier": "math",
                "k": 4,
                "temperature": 1.0,
                "max_new_tokens": 8,
                "batch_prompts": 2,
            },
            {"name": "dpo", "kind": "dpo", "init": "sft", "pairs": "pairs", "max_steps": 2, "batch_size": 2, **train},
            {
                "name": "reward",
                "kind": "reward",
                "backbone": "policy",  # the tiny model: seconds, where MiniLM takes a minute on a busy machine
                "data": {"path": str(REPO / "data" / "reward" / "train.jsonl"), "limit": 32},
                "likelihood": [],
                "max_steps": 4,
                "batch_size": 8,
                **train,
                "save_steps": 2,
            },
            {
                "name": "grpo",
                "kind": "grpo",
                "init": "dpo",
                "prompts": str(prompts),
                "verifier": "math",
                "prompt_selection": {"num_generations": 4},
                "num_generations": 4,
                "prompts_per_step": 1,
                "max_completion_length": 8,
                "max_steps": 2,
                **train,
            },
        ],
    }


def align_run(recipe: Path, run_dir: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("ALIGN_CRASH_AT", None)
    if crash_at:
        env["ALIGN_CRASH_AT"] = crash_at
    # Its own process group, as a shell job would be: the kill takes the run and every child it started.
    return subprocess.run(
        [sys.executable, "-m", "align", "run", str(recipe), "--run-dir", str(run_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )


def metrics(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / stage / "manifest.json").read_text())["metrics"]


def checksum(run_dir: Path, stage: str) -> str:
    return json.loads((run_dir / stage / "manifest.json").read_text())["checksums"][DETERMINISTIC[stage]]


@pytest.fixture
def recipe(tmp_path: Path, digit_model: str, chat_file: Path) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say one ({i}).", "answer": "1"}) + "\n" for i in range(6)))
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(chain_recipe(digit_model, chat_file, prompts)))
    return path


def test_killed_anywhere_the_rerun_completes_and_equals_an_uninterrupted_run(recipe: Path, tmp_path: Path):
    reference = tmp_path / "reference"
    done = align_run(recipe, reference)
    assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "killed"
    # Each kill lands later in the chain; each re-run must finish what the last one left and get further.
    kills = [
        ("sft:checkpoint", lambda: (run / "sft/checkpoints/checkpoint-1/trainer_state.json").is_file()),
        ("pairs:batch", lambda: sorted(p.name for p in (run / "pairs/batches").iterdir()) == ["batch-00000.json"]),
        ("write:dpo/manifest.json", lambda: not (run / "dpo/manifest.json").exists()),
        ("reward:checkpoint", lambda: (run / "reward/checkpoints/reward-state.pt").is_file()),
        # After the prompt selection was saved, so the re-run must reuse it rather than sample it again.
        ("grpo:checkpoint", lambda: (run / "grpo/checkpoints/checkpoint-1").is_dir()),
    ]
    for point, left_on_disk in kills:
        killed = align_run(recipe, run, crash_at=point)
        assert killed.returncode == -signal.SIGKILL, f"{point}: exit {killed.returncode}\n{killed.stderr[-3000:]}"
        assert left_on_disk(), point
        stage = point.split(":")[1].split("/")[0] if point.startswith("write:") else point.split(":")[0]
        assert not (run / stage / "COMPLETE").exists(), f"{point}: an interrupted stage was marked complete"
        if point == "grpo:checkpoint":
            selection = (run / "grpo/prompt_selection.json").read_bytes()

    final = align_run(recipe, run)
    assert final.returncode == 0, final.stderr[-3000:]
    for stage in STAGES:
        manifest = json.loads((run / stage / "manifest.json").read_text())
        assert (run / stage / "COMPLETE").read_text().strip() == manifest["fingerprint"]
        assert manifest["disk_bytes"] > 0
        assert checksum(run, stage) == checksum(reference, stage), f"{stage} differs from the uninterrupted run"
    # Same recipe and seed on CPU: the same first-step losses, however the run was interrupted.
    for stage in ("sft", "dpo", "grpo"):
        assert metrics(run, stage)["loss_first"] == metrics(reference, stage)["loss_first"], stage
    assert (run / "grpo/prompt_selection.json").read_bytes() == selection  # reused, not re-sampled
    grpo = json.loads((run / "grpo/manifest.json").read_text())
    assert grpo["notes"]["prompt_selection"]["reused"] is True
    assert grpo["resumed_from"].endswith("checkpoint-1")
    assert json.loads((run / "pairs/manifest.json").read_text())["metrics"]["batches_resumed"] == 1
    # Only what resuming needs was kept: the newest Trainer checkpoint (keep_checkpoints: 1).
    assert [p.name for p in (run / "grpo/checkpoints").glob("checkpoint-*")] == ["checkpoint-2"]
