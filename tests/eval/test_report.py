"""The report from a real (tiny) run plus hand-written pair statistics, GRPO log and evaluation results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from align.artifacts.contract import Manifest, mark_complete
from align.config.load import load_recipe
from align.evaluation import evaluate
from align.evaluation.cli import main as eval_main
from align.report import build_report
from align.report.cli import main as report_main
from align.runner import run_recipe

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real SFT stage, 3 steps, loss logged every step."""
    folder = tmp_path_factory.mktemp("tiny-run")
    data = folder / "chat.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"{a}+{a}?", "completion": str(2 * a)}) + "\n" for a in range(8)))
    stage = {"name": "sft", "kind": "sft", "data": str(data), "max_steps": 3, "batch_size": 2, "max_length": 128}
    recipe = {"name": "tiny", "model": tiny_model, "lora": {"r": 4, "alpha": 8}, "stages": [stage]}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    run_dir = folder / "run"
    run_recipe(load_recipe(folder / "recipe.yaml", ["stages.sft.logging_steps=1", "stages.sft.report_to=[]"]), run_dir)
    sft = run_dir / "sft"
    if not (sft / "log_history.json").is_file():  # stages that predate log_history.json: use the checkpoint's
        state = sorted((sft / "checkpoints").glob("checkpoint-*/trainer_state.json"))[-1]
        (sft / "log_history.json").write_text(json.dumps(json.loads(state.read_text())["log_history"]))
    return run_dir


def _fake_stage(run_dir: Path, name: str, kind: str, finished_at: str, files: dict[str, object]) -> None:
    folder = run_dir / name
    folder.mkdir()
    for file, content in files.items():
        (folder / file).write_text(json.dumps(content))
    manifest = {"name": name, "kind": kind, "fingerprint": f"fp-{name}", "finished_at": finished_at}
    mark_complete(folder, Manifest(**manifest, base_model="tiny", config={"init": "sft"}))


STATS = {
    "prompts": 40,
    "samples": 320,
    "undecided_samples": 3,
    "pass_rate": 0.375,
    "pairs": 21,
    "skipped": {"all_passed": 12, "all_failed": 7},
}
GRPO_LOG = [
    {
        "step": step,
        "loss": 0.1 / step,
        "reward": 0.5 * step,
        "reward_std": 0.1,
        **{f"rewards/{d}/mean": step * i / 10 for i, d in enumerate(["truthfulness", "conciseness"], 1)},
        **{f"rewards/{d}/std": 0.05 for d in ["truthfulness", "conciseness"]},
    }
    for step in range(1, 6)
]
EVAL = {
    "target": "run",
    "target_kind": "run",
    "created_at": "2026-01-01T00:00:00+00:00",
    "settings": {"suites": ["math", "chat"], "samples": 4, "limit": 8},
    "models": {
        "base": {
            "init": None,
            "suites": {
                "math": {
                    "metrics": {"accuracy": 0.25, "pass@4": 0.5},
                    "n": 8,
                    "examples": [
                        {
                            "prompt": "What is 2 + 3?",
                            "completion": "It is 6 | maybe",
                            "reference": "5",
                            "correct": False,
                        }
                    ],
                },
                "chat": {"skipped": "no reward model: pass --reward FOLDER"},
            },
        },
        "sft": {
            "init": "base",
            "suites": {
                "math": {
                    "metrics": {"accuracy": 0.625, "pass@4": 0.875},
                    "n": 8,
                    "examples": [
                        {
                            "prompt": "What is 2 + 3?",
                            "completion": "2 + 3 = 5\n\\boxed{5}",
                            "reference": "5",
                            "correct": True,
                        }
                    ],
                },
                "chat": {"skipped": "no reward model: pass --reward FOLDER"},
            },
        },
    },
}


@pytest.fixture
def full_run(tiny_run: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    _fake_stage(run_dir, "pairs", "pairs", "2999-01-01T00:00:01+00:00", {"stats.json": STATS})
    _fake_stage(run_dir, "grpo", "grpo", "2999-01-01T00:00:02+00:00", {"log_history.json": GRPO_LOG})
    (run_dir / "eval.json").write_text(json.dumps(EVAL))
    return run_dir


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC), path
    from PIL import Image

    with Image.open(path) as image:
        image.verify()


def test_report_has_curves_tables_pairs_and_samples(full_run: Path):
    report = build_report(full_run)
    assert report == full_run / "report.md"
    text = report.read_text()
    for png in ("sft-loss", "grpo-loss", "grpo-rewards", "grpo-dimensions", "eval"):
        _assert_png(full_run / "plots" / f"{png}.png")
        assert f"](plots/{png}.png)" in text  # relative links render on GitHub
    assert not (full_run / "plots" / "sft-rewards.png").exists()  # SFT logs no reward

    assert "| stage | kind | status | steps | loss first → last | wall time |" in text
    manifest = json.loads((full_run / "sft" / "manifest.json").read_text())
    assert f"{manifest['metrics']['loss_first']:.4g} → {manifest['metrics']['loss_last']:.4g}" in text

    assert "| metric | base | sft |" in text
    assert "| math accuracy (n=8) | 0.250 | 0.625 (+0.375) |" in text
    assert "| math pass@4 (n=8) | 0.500 | 0.875 (+0.375) |" in text
    assert "**chat** skipped: no reward model" in text

    assert "## Pair building: pairs" in text
    assert "| 40 | 320 | 3 | 0.375 | 21 |" in text
    assert "| all_passed | 12 |" in text and "| all_failed | 7 |" in text

    assert "| prompt | reference | base | sft |" in text
    assert "| What is 2 + 3? | 5 | ✗ It is 6 \\| maybe | ✓ 2 + 3 = 5<br>\\\\boxed{5} |" in text
    # Stage order follows the order the stages finished.
    assert text.index("### sft (sft)") < text.index("### grpo (grpo)")


def test_report_on_a_run_evaluated_for_real_and_cached(
    tiny_run: Path, math_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    options = {"limit": 2, "math_data": str(math_file), "max_new_tokens": 4, "backend": "hf", "show": False}
    first = evaluate(run_dir, ["math"], **options)
    assert list(first["models"]) == ["base", "sft"]
    assert first["models"]["sft"]["init"] == "base"
    stored = json.loads((run_dir / "eval.json").read_text())
    assert stored["models"]["sft"]["suites"]["math"]["n"] == 2

    def no_generation(*args, **kwargs):
        raise AssertionError("unchanged policies must not be evaluated again")

    monkeypatch.setattr("align.evaluation.evaluator.PolicySamplers.get", no_generation)
    again = evaluate(run_dir, ["math"], **options)
    assert again["models"]["sft"]["suites"]["math"] == first["models"]["sft"]["suites"]["math"]

    text = build_report(run_dir).read_text()
    accuracy = first["models"]["sft"]["suites"]["math"]["metrics"]["accuracy"]
    assert f"| math accuracy (n=2) | {first['models']['base']['suites']['math']['metrics']['accuracy']:.3f} |" in text
    assert f"{accuracy:.3f}" in text
    _assert_png(run_dir / "plots" / "eval.png")
    # Per-problem values stored, so the report carries intervals and the paired base → sft change.
    sft_math = stored["models"]["sft"]["suites"]["math"]
    assert len(sft_math["per_problem"]["accuracy"]) == 2 and set(sft_math["intervals"]) == {"accuracy"}
    assert "| ↳ 95 % interval | [" in text
    assert "| base → sft | math accuracy | 2 |" in text and "McNemar exact" in text


def test_report_shows_intervals_and_paired_changes(full_run: Path):
    from align.evaluation.stats import add_statistics

    results = json.loads((full_run / "eval.json").read_text())
    # 8 problems: base right on the first 2, sft on the first 5 → 3 fixed, none broken.
    results["models"]["base"]["suites"]["math"]["per_problem"] = {"accuracy": [1.0] * 2 + [0.0] * 6}
    results["models"]["sft"]["suites"]["math"]["per_problem"] = {"accuracy": [1.0] * 5 + [0.0] * 3}
    (full_run / "eval.json").write_text(json.dumps(add_statistics(results)))
    text = build_report(full_run).read_text()
    assert "| math accuracy (n=8) | 0.250 | 0.625 (+0.375) |" in text
    shown = [results["models"][m]["suites"]["math"]["intervals"]["accuracy"] for m in ("base", "sft")]
    assert "| ↳ 95 % interval | " + " | ".join(f"[{lo:.3f}, {hi:.3f}]" for lo, hi in shown) + " |" in text
    assert shown[0][0] <= 0.25 <= shown[0][1] and shown[1][0] <= 0.625 <= shown[1][1]
    # Exact McNemar on 3 discordant problems all one way: 2 · (1/2)^3 = 0.25.
    assert "| base → sft | math accuracy | 8 | 0.250 → 0.625 | +0.375 [" in text
    assert "| 0.250 | McNemar exact (3 fixed, 0 broken) |" in text


def test_report_cli(tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert report_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a run folder" in err and err.count("\n") == 1
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    logged = [{"step": step, "prompt": "2+2?", "completion": f"answer {step}", "total": 0.5} for step in (1, 2, 3, 4)]
    (run_dir / "sft" / "completions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logged))
    assert report_main([str(run_dir)]) == 0
    assert str(run_dir / "report.md") in capsys.readouterr().out
    text = (run_dir / "report.md").read_text()
    assert "No evaluation yet: run `align eval" in text
    assert "| 4 | 2+2? | answer 4 | 0.5 |" in text and "answer 1" not in text  # the last rows logged


def test_a_stage_folder_is_evaluated_as_its_adapter_on_the_manifest_base_model(
    tiny_run: Path, tiny_model: str, math_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "sft.json"
    results = evaluate(tiny_run / "sft", ["math"], limit=1, math_data=str(math_file), max_new_tokens=4, out=out)
    assert results["target_kind"] == "stage"
    sft = results["models"]["sft"]
    assert sft["adapter"] == str(tiny_run / "sft") and sft["base_model"] == tiny_model
    assert json.loads(out.read_text())["models"]["sft"]["suites"]["math"]["n"] == 1

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    _fake_stage(run_dir, "pairs", "pairs", "2999-01-01T00:00:01+00:00", {"stats.json": STATS})
    capsys.readouterr()
    assert eval_main([str(run_dir / "pairs")]) == 2
    assert "a pairs stage has no policy to evaluate" in capsys.readouterr().err


def test_models_read_left_to_right_in_the_order_the_chain_ran(full_run: Path):
    # eval.json is written with sorted keys, so "grpo" comes before "sft" there.
    results = json.loads((full_run / "eval.json").read_text())
    grpo = {**results["models"]["sft"], "init": "sft"}
    results["models"] = {"base": results["models"]["base"], "grpo": grpo, "sft": results["models"]["sft"]}
    (full_run / "eval.json").write_text(json.dumps(results))
    text = build_report(full_run).read_text()
    assert "| metric | base | sft | grpo |" in text
    assert "| prompt | reference | base | sft | grpo |" in text


def test_a_held_out_file_rebuilt_under_the_same_name_is_evaluated_again(
    tiny_run: Path, math_file: Path, tmp_path: Path
):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    options = {"limit": 2, "math_data": str(math_file), "max_new_tokens": 4, "backend": "hf", "show": False}
    first = evaluate(run_dir, ["math"], **options)
    # Same prompts, same count, one reference answer changed: only the file's bytes tell the results are stale.
    rows = [json.loads(line) for line in math_file.read_text().splitlines()]
    rows[0]["answer"] = "123456"
    math_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stored = json.loads((run_dir / "eval.json").read_text())
    for entry in stored["models"].values():
        entry["suites"]["math"]["metrics"]["accuracy"] = -1.0  # a marker only a reused result would keep
    (run_dir / "eval.json").write_text(json.dumps(stored))
    again = evaluate(run_dir, ["math"], **options)
    for name, entry in again["models"].items():
        suite = entry["suites"]["math"]
        assert suite["metrics"]["accuracy"] != -1.0, name
        assert suite["data_digest"] != first["models"][name]["suites"]["math"]["data_digest"]


def test_results_stored_before_per_problem_values_are_evaluated_again(tiny_run: Path, math_file: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    options = {"limit": 2, "math_data": str(math_file), "max_new_tokens": 4, "backend": "hf", "show": False}
    evaluate(run_dir, ["math"], **options)
    stored = json.loads((run_dir / "eval.json").read_text())
    for entry in stored["models"].values():
        for key in ("per_problem", "intervals"):
            entry["suites"]["math"].pop(key)
    (run_dir / "eval.json").write_text(json.dumps(stored))
    again = evaluate(run_dir, ["math"], **options)
    assert all(len(e["suites"]["math"]["per_problem"]["accuracy"]) == 2 for e in again["models"].values())
    assert [(c["against"], c["model"]) for c in again["comparisons"]] == [("base", "sft")]


def test_chat_results_stored_without_answers_are_redone(tiny_run: Path, tiny_reward_model: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run, run_dir)
    prompts = tmp_path / "chat.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ("Say hi.", "Name a colour.")))
    options = {"reward": tiny_reward_model, "chat_data": str(prompts), "max_new_tokens": 4, "show": False}
    first = evaluate(run_dir, ["chat"], **options)
    chat = first["models"]["sft"]["suites"]["chat"]
    assert [a["prompt"] for a in chat["answers"]] == ["Say hi.", "Name a colour."]
    # An eval.json written before answers were kept: the same policy's chat result is evaluated again.
    stored = json.loads((run_dir / "eval.json").read_text())
    for entry in stored["models"].values():
        del entry["suites"]["chat"]["answers"]
        entry["suites"]["chat"]["metrics"]["total"] = -1.0  # a marker only a reused result would keep
    (run_dir / "eval.json").write_text(json.dumps(stored))
    again = evaluate(run_dir, ["chat"], **options)["models"]["sft"]["suites"]["chat"]
    assert again["answers"] == chat["answers"] and again["metrics"]["total"] == chat["metrics"]["total"] != -1.0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("eval.json", '{"models": {"sft"', "unreadable (JSONDecodeError"),
        ("eval.json", "[1, 2]", "not an evaluation (no `models` object)"),
        ("grpo/log_history.json", "\x00\x00", "unreadable (JSONDecodeError"),
        ("pairs/stats.json", "{", "unreadable (JSONDecodeError"),
    ],
)
def test_a_corrupt_artifact_is_one_line_naming_it(full_run: Path, capsys, name: str, content: str, message: str):
    (full_run / name).write_text(content)
    assert report_main([str(full_run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {full_run / name}: {message}") and err.count("\n") == 1
    assert not (full_run / "report.md").exists()


def test_cut_and_lost_counts_have_their_own_section(tiny_run: Path, tmp_path: Path):
    run_dir = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    assert "## Cut, skipped or lost" not in build_report(run_dir).read_text()  # nothing lost: no section
    metrics = {"truncated_rows": 3, "reward_failures": {"helpfulness/raised": 8, "correctness/none": 0}}
    folder = run_dir / "grpo"
    folder.mkdir()
    manifest = Manifest(name="grpo", kind="grpo", fingerprint="fp", base_model="tiny", config={}, metrics=metrics)
    mark_complete(folder, manifest)
    text = build_report(run_dir).read_text()
    assert "| grpo | truncated_rows | 3 |" in text
    assert "| grpo | reward_failures[helpfulness/raised] | 8 |" in text and "correctness/none" not in text
