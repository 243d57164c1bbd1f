"""kill -9 anywhere: a real chain on a tiny model, killed (SIGKILL to its process group) at one point after
another, re-run each time with the same command, ends complete — and equal to an uninterrupted run.

The kills come from `ALIGN_CRASH_AT` (align/runtime/crashpoints.py): the run kills its own process group at an exact
point, so what is on disk at the kill does not depend on how fast the machine is. Every training stage (sft, dpo,
reward, grpo) is killed at a random optimiser step, drawn from a seeded generator (the default run draws one
moment per stage; `make test-slow` two more; `RESUME_SEED=N` shifts them all), after the step and before its
checkpoint: the re-run must resume from the step before — its first step
is the killed one (`first_step` in the manifest) — and end with the weights of the uninterrupted run.
"""

from __future__ import annotations

import json
import os
import random
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
DETERMINISTIC = {"pairs": "pairs.jsonl", "grpo": "prompt_selection.json"}
# Weights that must equal the uninterrupted run's: within float noise, so the verdict does not need two CPU runs
# to agree to the last bit (they do on one machine; a kernel choice that depends on the thread count need not).
WEIGHTS = {
    "sft": "adapter_model.safetensors",
    "dpo": "adapter_model.safetensors",
    "reward": "model.safetensors",
    "grpo": "adapter_model.safetensors",
}
MAX_STEPS = {"sft": 4, "dpo": 3, "reward": 4, "grpo": 3}
SEED = int(os.environ.get("RESUME_SEED", "0"))


def chain_recipe(model: str, chat: Path, prompts: Path) -> dict:
    train = {"report_to": [], "save_steps": 1, "max_length": 64}
    return {
        "name": "resume",
        "model": model,
        "lora": {"r": 4, "alpha": 8},
        "stages": [
            {"name": "sft", "kind": "sft", "data": str(chat), "max_steps": MAX_STEPS["sft"], "batch_size": 2, **train},
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
            {
                "name": "dpo",
                "kind": "dpo",
                "init": "sft",
                "pairs": "pairs",
                "max_steps": MAX_STEPS["dpo"],
                "batch_size": 2,
                **train,
            },
            {
                "name": "reward",
                "kind": "reward",
                "backbone": "policy",  # the tiny model: seconds, where MiniLM takes a minute on a busy machine
                "data": {"path": str(REPO / "data" / "reward" / "train.jsonl"), "limit": 32},
                "likelihood": [],
                "max_steps": MAX_STEPS["reward"],
                "batch_size": 8,
                **train,
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
                "max_steps": MAX_STEPS["grpo"],
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


def assert_same_weights(run: Path, reference: Path, stage: str) -> None:
    import torch
    from safetensors.torch import load_file

    ours, theirs = load_file(run / stage / WEIGHTS[stage]), load_file(reference / stage / WEIGHTS[stage])
    assert ours.keys() == theirs.keys(), stage
    for name, tensor in ours.items():
        assert torch.allclose(tensor, theirs[name], rtol=1e-4, atol=1e-6), f"{stage}: {name} differs"


def step_kill(stage: str, rng: random.Random) -> tuple[str, int]:
    """A kill at a random step from the second on (a checkpoint of the step before exists to resume from)."""
    step = rng.randint(2, MAX_STEPS[stage])
    return f"{stage}:step@{step}", step


@pytest.fixture
def recipe(tmp_path: Path, digit_model: str, chat_file: Path) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say one ({i}).", "answer": "1"}) + "\n" for i in range(6)))
    path = tmp_path / "resume.yaml"
    path.write_text(yaml.safe_dump(chain_recipe(digit_model, chat_file, prompts)))
    return path


@pytest.mark.parametrize(
    "seed", [SEED, pytest.param(SEED + 1, marks=pytest.mark.slow), pytest.param(SEED + 2, marks=pytest.mark.slow)]
)
def test_killed_anywhere_the_rerun_completes_and_equals_an_uninterrupted_run(recipe: Path, tmp_path: Path, seed: int):
    reference = tmp_path / "reference"
    done = align_run(recipe, reference)
    assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "killed"
    rng = random.Random(seed)
    killed_at = {stage: step_kill(stage, rng) for stage in MAX_STEPS}

    def checkpoint(stage: str) -> Path:
        return run / stage / "checkpoints" / f"checkpoint-{killed_at[stage][1] - 1}" / "trainer_state.json"

    # Each kill lands later in the chain; each re-run must finish what the last one left and get further.
    kills = [
        (killed_at["sft"][0], lambda: checkpoint("sft").is_file()),
        ("pairs:batch", lambda: sorted(p.name for p in (run / "pairs/batches").iterdir()) == ["batch-00000.json"]),
        # pairs.jsonl written, its statistics half written: the re-run rebuilds both from the stored batches.
        ("write:pairs/stats.json", lambda: (run / "pairs/pairs.jsonl").is_file()),
        (killed_at["dpo"][0], lambda: checkpoint("dpo").is_file()),
        (killed_at["reward"][0], lambda: (run / "reward/checkpoints/reward-state.pt").is_file()),
        # After the prompt selection was saved, so the re-run must reuse it rather than sample it again.
        (killed_at["grpo"][0], lambda: checkpoint("grpo").is_file()),
    ]
    for point, left_on_disk in kills:
        killed = align_run(recipe, run, crash_at=point)
        assert killed.returncode == -signal.SIGKILL, f"{point}: exit {killed.returncode}\n{killed.stderr[-3000:]}"
        assert left_on_disk(), point
        stage = point.split(":")[1].split("/")[0] if point.startswith("write:") else point.split(":")[0]
        assert not (run / stage / "COMPLETE").exists(), f"{point}: an interrupted stage was marked complete"
        if point.startswith("grpo:"):
            selection = (run / "grpo/prompt_selection.json").read_bytes()

    final = align_run(recipe, run)
    assert final.returncode == 0, final.stderr[-3000:]
    for stage in STAGES:
        manifest = json.loads((run / stage / "manifest.json").read_text())
        assert (run / stage / "COMPLETE").read_text().strip() == manifest["fingerprint"]
        assert manifest["disk_bytes"] > 0
        if stage in DETERMINISTIC:
            assert checksum(run, stage) == checksum(reference, stage), f"{stage} differs from the uninterrupted run"
        if stage in WEIGHTS:
            assert_same_weights(run, reference, stage)
    # Each training stage continued: its last run started at the killed step, right after the checkpoint before.
    for stage in ("sft", "dpo", "grpo"):
        assert metrics(run, stage)["first_step"] == killed_at[stage][1], stage
        assert metrics(reference, stage)["first_step"] == 1
        resumed = json.loads((run / stage / "manifest.json").read_text())["resumed_from"]
        assert resumed.endswith(f"checkpoint-{killed_at[stage][1] - 1}"), stage
    # The reward model was killed once, at its step; the re-run resumed from the state saved one step before.
    assert metrics(run, "reward")["train/first_step"] == killed_at["reward"][1]
    assert metrics(reference, "reward")["train/first_step"] == 1
    assert (run / "grpo/prompt_selection.json").read_bytes() == selection  # reused, not re-sampled
    grpo = json.loads((run / "grpo/manifest.json").read_text())
    assert grpo["notes"]["prompt_selection"]["reused"] is True
    # 6 prompts in batches of 2: all 3 were stored before the kill at stats.json, none sampled again.
    assert metrics(run, "pairs")["batches_resumed"] == 3
    # Only what resuming needs was kept: the newest Trainer checkpoint (keep_checkpoints: 1).
    assert [p.name for p in (run / "grpo/checkpoints").glob("checkpoint-*")] == [f"checkpoint-{MAX_STEPS['grpo']}"]
