"""The report's reward-model and chat before/after sections, from hand-built stage manifests and eval.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.artifacts.contract import Manifest, mark_complete
from align.evaluation.stats import add_statistics
from align.evaluation.table import change_rows
from align.evaluation.textstats import answer_columns
from align.report import build_report

PROMPTS = [f"Question {i}?" for i in range(4)]
LONG = "word " * 200  # 1,000 characters: cut in the report, kept whole in eval.json
SFT_SCORES = {"truthfulness": [0.1, 0.5, 0.2, 0.9], "helpfulness": [0.5] * 4, "conciseness": [0.9] * 4}
GRPO_SCORES = {"truthfulness": [0.6, 0.4, 0.5, 0.95], "helpfulness": [0.4, 0.9, 0.5, 0.7], "conciseness": [0.1] * 4}
GRPO_REWARDS = {"truthfulness": {"weight": 1.0}, "helpfulness": {"weight": 0.5}, "conciseness": {"weight": 0.0}}
REWARD_METRICS = {
    **{f"accuracy/{d}": a for d, a in (("truthfulness", 0.6), ("helpfulness", 1.0))},
    **{f"eval_pairs/{d}": 90.0 for d in ("truthfulness", "helpfulness")},
    "accuracy/mean": 0.8,
    **{f"probe_accuracy/{d}": a for d, a in (("truthfulness", 0.75), ("helpfulness", 0.875))},
    **{f"probe_pairs/{d}": 11.0 for d in ("truthfulness", "helpfulness")},
    "probe_accuracy/mean": 0.8125,
}


def chat_result(policy: str, scores: dict[str, list[float]], answers: list[str]) -> dict:
    totals = [sum(column[i] for column in scores.values()) for i in range(len(PROMPTS))]
    per_problem = {**scores, "total": totals, **answer_columns(answers)}
    return {
        "metrics": {k: sum(v) / len(v) for k, v in per_problem.items()},
        "per_problem": per_problem,
        "n": len(PROMPTS),
        "answers": [{"prompt": p, "completion": a} for p, a in zip(PROMPTS, answers, strict=True)],
    }


def stage(run_dir: Path, name: str, kind: str, config: dict | None = None, metrics: dict | None = None) -> None:
    folder = run_dir / name
    folder.mkdir(parents=True)
    finished = f"2026-01-01T00:00:0{len(list(run_dir.iterdir()))}+00:00"  # the order the stages are made in
    manifest = Manifest(
        name=name, kind=kind, fingerprint=f"fp-{name}", base_model="tiny", config=config or {}, finished_at=finished
    )
    mark_complete(folder, manifest.model_copy(update={"metrics": metrics or {}}))


def run_with_eval(tmp_path: Path, grpo_config: dict) -> Path:
    run_dir = tmp_path / "run"
    stage(run_dir, "sft", "sft")
    stage(run_dir, "reward", "reward", metrics=REWARD_METRICS)
    stage(run_dir, "grpo", "grpo", config=grpo_config)
    grpo_answers = [f"grpo answer {i}" if i != 1 else LONG for i in range(4)]
    results = {
        "target": str(run_dir),
        "settings": {"suites": ["chat"]},
        "models": {
            "base": {"kind": "base", "init": None, "suites": {}},
            "sft": {"kind": "sft", "init": "base", "suites": {"chat": chat_result("sft", SFT_SCORES, [
                f"sft answer {i}" for i in range(4)
            ])}},
            "grpo": {"kind": "grpo", "init": "sft", "suites": {"chat": chat_result("grpo", GRPO_SCORES, grpo_answers)}},
        },
    }  # fmt: skip
    (run_dir / "eval.json").write_text(json.dumps(add_statistics(results)))
    return run_dir


def test_chat_before_and_after_shows_the_top_three_rises_per_optimised_dimension(tmp_path: Path):
    run_dir = run_with_eval(tmp_path, {"init": "sft", "rewards": GRPO_REWARDS})
    text = build_report(run_dir).read_text()
    section = text[text.index("## Chat: before and after grpo") :]
    # truthfulness changes +0.5, -0.1, +0.3, +0.05: prompts 0, 2, 3 in that order, prompt 1 left out.
    truthfulness = section[section.index("### truthfulness") : section.index("### helpfulness")]
    assert "| Question 0? | 0.100 · sft answer 0 | 0.600 · grpo answer 0 | +0.500 |" in truthfulness
    assert "| Question 2? | 0.200 · sft answer 2 | 0.500 · grpo answer 2 | +0.300 |" in truthfulness
    assert "| Question 3? | 0.900 · sft answer 3 | 0.950 · grpo answer 3 | +0.050 |" in truthfulness
    assert truthfulness.index("Question 0?") < truthfulness.index("Question 2?") < truthfulness.index("Question 3?")
    assert "Question 1?" not in truthfulness
    # helpfulness changes -0.1, +0.4, 0, +0.2: prompts 1, 3, 2; prompt 1's long answer is cut in the table.
    helpfulness = section[section.index("### helpfulness") :]
    rows = [line for line in helpfulness.splitlines() if line.startswith("| Question")]
    assert [row.split(" | ")[0] for row in rows] == ["| Question 1?", "| Question 3?", "| Question 2?"]
    long_cell = rows[0].split(" | ")[2]
    assert long_cell.startswith("0.900 · word word") and long_cell.endswith("…") and len(long_cell) <= 400
    assert [row.split(" | ")[-1] for row in rows] == ["+0.400 |", "+0.200 |", "+0.000 |"]
    # Weight 0: conciseness was watched, not optimised, so it gets no samples.
    assert "### conciseness" not in section
    stored = json.loads((run_dir / "eval.json").read_text())
    assert stored["models"]["grpo"]["suites"]["chat"]["answers"][1]["completion"] == LONG


def test_without_the_stage_weights_every_scored_dimension_is_shown(tmp_path: Path):
    run_dir = run_with_eval(tmp_path, {"init": "sft"})
    section = build_report(run_dir).read_text().split("## Chat: before and after grpo")[1]
    assert all(f"### {d}" in section for d in ("truthfulness", "helpfulness", "conciseness"))
    assert "### total" not in section and "### length_words" not in section


def test_no_chat_section_without_a_grpo_policy_and_its_init_on_the_same_prompts(tmp_path: Path):
    run_dir = run_with_eval(tmp_path, {"init": "sft", "rewards": GRPO_REWARDS})
    results = json.loads((run_dir / "eval.json").read_text())
    results["models"]["sft"]["suites"]["chat"]["answers"][0]["prompt"] = "Another question?"
    (run_dir / "eval.json").write_text(json.dumps(results))
    assert "## Chat: before and after" not in build_report(run_dir).read_text()
    del results["models"]["sft"]["suites"]["chat"]
    (run_dir / "eval.json").write_text(json.dumps(results))
    assert "## Chat: before and after" not in build_report(run_dir).read_text()


def test_reward_model_section_shows_held_out_and_probe_accuracy_per_dimension(tmp_path: Path):
    text = build_report(run_with_eval(tmp_path, {"init": "sft"})).read_text()
    section = text[text.index("## Reward model") :]
    assert "| dimension | held-out accuracy | probe accuracy |" in section
    assert "| truthfulness | 0.600 (90) | 0.750 (11) |\n| helpfulness | 1.000 (90) | 0.875 (11) |" in section
    assert "| mean | 0.800 | 0.8125 |" not in section and "| mean | 0.800 | 0.812 |" in section


def test_answer_length_and_repetition_are_reported_with_paired_changes_but_not_plotted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run_dir = run_with_eval(tmp_path, {"init": "sft", "rewards": GRPO_REWARDS})
    text = build_report(run_dir).read_text()
    # sft answers are 3 words each; grpo's are 3, 200, 3, 3 words: mean 52.25.
    assert "| chat length_words (n=4) | — | 3.000 | 52.250 (+49.250) |" in text
    assert "| sft → grpo | chat length_words | 4 | 3.000 → 52.250 | +49.250 [" in text
    assert "`length_words` (words per answer), `negates` (share of answers with a negation" in text
    assert "`opens_yes` (share of answers whose first word agrees" in text and "describe the answers" in text
    # Only scores are drawn: the eval plot's chat panel has no bar for the two descriptive metrics.
    import matplotlib.axes

    from align.report.plots import plot_eval

    drawn: list[str] = []
    original = matplotlib.axes.Axes.set_xticks

    def record(self, ticks, labels=None, **kwargs):
        drawn.extend(labels or [])
        return original(self, ticks, labels, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "set_xticks", record)
    plot_eval(json.loads((run_dir / "eval.json").read_text())["models"], tmp_path / "eval.png")
    assert drawn == ["truthfulness", "helpfulness", "conciseness", "total"]


def test_answers_that_turn_from_no_to_yes_are_counted_in_the_paired_changes():
    before = ["No, it is not.", "No.", "It depends.", "Yes."]
    after = ["Yes, it is.", "Yes.", "It depends.", "Yes."]
    results = {
        "models": {
            "sft": {"kind": "sft", "init": None, "suites": {"chat": chat_result("sft", SFT_SCORES, before)}},
            "grpo": {"kind": "grpo", "init": "sft", "suites": {"chat": chat_result("grpo", GRPO_SCORES, after)}},
        }
    }
    rows = {row[1]: row for row in change_rows(add_statistics(results))}
    # Two answers opened with "No" and now open with "Yes": 1 of 4 agreed before, 3 of 4 after.
    assert rows["chat opens_yes"][3] == "0.250 → 0.750" and rows["chat opens_yes"][6].endswith("(2 0→1, 0 1→0)")
    assert rows["chat negates"][3] == "0.500 → 0.000" and rows["chat negates"][6].endswith("(0 0→1, 2 1→0)")
    # Correctness keeps its own words.
    assert "fixed" not in rows["chat opens_yes"][6]
