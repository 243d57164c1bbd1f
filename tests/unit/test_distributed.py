"""Two real processes (gloo on CPU, started by `align run --nproc 2`): rank-aware artifacts, sharded pair
building, DDP losses equal to one process's at the same global batch, and a kill -9 of one rank resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from align.artifacts.contract import MARKER, PAIR_STATS, PAIRS_FILE, read_manifest
from align.runtime.launch import launch_args, without_nproc

ROOT = Path(__file__).resolve().parents[2]
ANSWER = "2"  # conftest's digit_model says it with probability 0.475: both passing and failing samples
K = 4


def chain_recipe(tmp_path: Path, model: str, chat_file: Path, **sft: object) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": f"What is {a} - {a - 2}?", "answer": ANSWER}) + "\n" for a in range(3, 13))
    )
    recipe = {
        "name": "dist",
        "model": model,
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "eval": {"suites": ["math"], "limit": 6, "max_new_tokens": 8},
        "stages": [
            {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 3, "batch_size": 2,
             "max_length": 64, "logging_steps": 1, "learning_rate": 1e-2, "report_to": [], **sft},
            {"name": "pairs", "kind": "pairs", "init": "sft", "prompts": str(prompts), "verifier": "math",
             "k": K, "temperature": 1.0, "max_new_tokens": 8, "backend": "hf"},
            {"name": "dpo", "kind": "dpo", "init": "sft", "pairs": "pairs", "max_steps": 2, "batch_size": 1,
             "max_length": 64, "logging_steps": 1, "learning_rate": 1e-2, "report_to": []},
        ],
    }  # fmt: skip
    path = tmp_path / "dist.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def align(*args: str, nproc: int | None = None, wait: bool = True):
    """`align run ...` in fresh processes, as a user would start it (one, or `--nproc` ranks)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "align", *args, *(["--nproc", str(nproc)] if nproc else [])]
    if not wait:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def losses(stage_dir: Path) -> list[float]:
    return [e["loss"] for e in json.loads((stage_dir / "log_history.json").read_text()) if "loss" in e]


def test_launch_command_drops_nproc_and_asks_for_n_ranks():
    argv = ["run", "r.yaml", "--nproc", "3", "--until", "sft"]
    assert without_nproc(argv) == ["run", "r.yaml", "--until", "sft"]
    assert without_nproc(["run", "r.yaml", "--nproc=3"]) == ["run", "r.yaml"]
    command = launch_args(3, argv)
    assert command[command.index("--num_processes") + 1] == "3"
    assert "--cpu" not in command  # accelerate's --cpu launcher runs one process whatever --num_processes says
    assert command[-5:] == ["align", "run", "r.yaml", "--until", "sft"]


HELPERS = """
import json, os
from align.runtime import distributed
from align.runtime.errors import AlignError

rank = distributed.rank()
mine = distributed.shard(list(range(5)))
everything = distributed.gather([x * 10 for x in mine])
# Each rank would answer differently; decide() hands every rank the main process's answer.
decided = distributed.decide(lambda: f"rank-{rank}")
try:
    distributed.decide(lambda: 1 / 0)
    failed = None
except (AlignError, ZeroDivisionError) as err:
    failed = type(err).__name__
distributed.finish()
out = os.path.join(os.path.dirname(__file__), f"rank-{rank}.json")
open(out, "w").write(json.dumps({"rank": rank, "world": distributed.world_size(), "mine": mine, "all": everything,
                            "decided": decided, "failed": failed}))
"""


def test_helpers_on_two_ranks(tmp_path: Path):
    script = tmp_path / "helpers.py"
    script.write_text(HELPERS)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = launch_args(2, [])
    command = [sys.executable, "-m", "accelerate.commands.launch", *args[: args.index("-m")], str(script)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads((tmp_path / f"rank-{rank}.json").read_text()) for rank in (0, 1)]
    assert {r["world"] for r in results} == {2}
    assert [r["mine"] for r in results] == [[0, 1, 2], [3, 4]]
    assert all(r["all"] == [0, 10, 20, 30, 40] and r["decided"] == "rank-0" for r in results)
    # The main process's own error on rank 0; the same failure, as one line, on the rank that waited for it.
    assert [r["failed"] for r in results] == ["ZeroDivisionError", "AlignError"]


def test_nproc_must_be_positive(tmp_path: Path, capsys):
    from align.cli import main

    assert main(["run", str(tmp_path / "any.yaml"), "--nproc", "0"]) == 2
    assert "error: --nproc" in capsys.readouterr().err


def test_two_processes_run_the_chain_to_dpo(tmp_path: Path, digit_model: str, chat_file: Path):
    recipe = chain_recipe(tmp_path, digit_model, chat_file, batch_size=2, max_steps=4)
    run_dir = tmp_path / "run"
    align("run", str(recipe), "--run-dir", str(run_dir), nproc=2)
    # The same SFT in one process with the same global batch (4 = 2 ranks x 2).
    single = chain_recipe(tmp_path / "one", digit_model, chat_file, batch_size=4, max_steps=4)
    align("run", str(single), "--until", "sft", "--run-dir", str(tmp_path / "run-one"))

    for stage in ("sft", "pairs", "dpo"):
        manifest = read_manifest(run_dir / stage)
        assert manifest is not None and (run_dir / stage / MARKER).is_file()
        assert manifest.world_size == 2, stage
    stats = json.loads((run_dir / "pairs" / PAIR_STATS).read_text())
    # Each prompt sampled once across the ranks (a rank sampling every prompt would double these).
    assert stats["prompts"] == 10 and stats["samples"] == 10 * K
    pairs = [json.loads(line) for line in (run_dir / "pairs" / PAIRS_FILE).read_text().splitlines()]
    assert pairs, "about half the digit model's samples pass: 10 prompts without a mixed group is ~1e-9"
    keys = [(p["prompt_index"], p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs]
    assert len(keys) == len(set(keys)) == stats["pairs"]
    assert all(p["chosen_score"] == 1.0 and p["rejected_score"] == 0.0 for p in pairs)
    # Pairs of a prompt sit together and in prompt order: the gathered shards kept the unsharded order.
    indices = [p["prompt_index"] for p in pairs]
    assert indices == sorted(indices)
    assert read_manifest(run_dir / "dpo").metrics["pairs"] == len(pairs)
    assert read_manifest(run_dir / "dpo").metrics["steps"] == 2
    assert "several processes" in read_manifest(run_dir / "dpo").notes["precompute_ref"]
    # The main process alone wrote the log: one "finished" line per stage, not one per rank.
    log = (run_dir / "align.log").read_text()
    assert sum("stage sft: finished" in line for line in log.splitlines()) == 1

    # Evaluation sharded over the ranks and gathered equals one process's greedy evaluation of the same run.
    sharded = json.loads((run_dir / "eval.json").read_text())["models"]
    align("eval", str(run_dir), "--limit", "6", "--max-new-tokens", "8", "--out", str(tmp_path / "one.json"))
    single_eval = json.loads((tmp_path / "one.json").read_text())["models"]
    assert set(sharded) == {"base", "sft", "dpo"}
    for name, entry in single_eval.items():
        mine, theirs = sharded[name]["suites"]["math"], entry["suites"]["math"]
        assert mine["n"] == 6 and (mine["metrics"], mine["examples"]) == (theirs["metrics"], theirs["examples"])

    one, ddp = losses(tmp_path / "run-one" / "sft"), losses(run_dir / "sft")
    assert len(one) == len(ddp) == 4
    # Later steps' losses agree only if every step applied the whole global batch's gradient, averaged.
    assert ddp == pytest.approx(one, rel=1e-3)
    assert one[-1] != pytest.approx(one[0], rel=1e-3), "training should move the loss"


def test_kill_9_of_one_rank_leaves_a_resumable_run(tmp_path: Path, tiny_model: str, chat_file: Path):
    recipe = chain_recipe(tmp_path, tiny_model, chat_file, max_steps=12, save_steps=2)
    run_dir = tmp_path / "run"
    # Rank 1 kills itself (only itself) right after its second checkpoint, step 4: by then checkpoint-2 was whole
    # on disk whatever the machine's speed (rank 0 wrote it before step 3's all-reduce), and rank 0 removes it
    # only once checkpoint-4 is whole.
    os.environ |= {"ALIGN_CRASH_AT": "sft:checkpoint@2", "ALIGN_CRASH_RANK": "1"}
    try:
        launcher = align("run", str(recipe), "--until", "sft", "--run-dir", str(run_dir), nproc=2, wait=False)
    finally:
        del os.environ["ALIGN_CRASH_AT"], os.environ["ALIGN_CRASH_RANK"]
    output, _ = launcher.communicate(timeout=300)
    assert launcher.returncode != 0, output[-2000:]
    assert list((run_dir / "sft" / "checkpoints").glob("checkpoint-[24]/trainer_state.json"))
    assert not (run_dir / "sft" / MARKER).exists()

    align("run", str(recipe), "--until", "sft", "--run-dir", str(run_dir), nproc=2)
    manifest = read_manifest(run_dir / "sft")
    assert manifest is not None and manifest.world_size == 2
    assert manifest.resumed_from is not None and "checkpoint-" in manifest.resumed_from
    assert manifest.metrics["steps"] == 12
