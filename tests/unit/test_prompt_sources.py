"""Several prompt sources in one GRPO stage: the schema, the dealing, the verifier only on rows that carry its
columns, the one-line errors for a source that half carries them, the per-source counts, and a short real run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from align.cli import main
from align.config.load import load_recipe
from align.config.reference import plain_type
from align.config.schema import DataSpec, GRPOStage
from align.data.prompt_sources import PromptSource, load_stage_prompts
from align.runner import input_digests, run_recipe, stage_fingerprint
from align.runtime.context import StageContext
from align.runtime.errors import AlignError
from align.stages.grpo.scoring import score_groups, stage_rewards
from align.stages.grpo.stage import select_prompts

CHAT = [{"prompt": f"Say something about {w}."} for w in ("tea", "rain", "snow")]
NO_COMMA = {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
CONSTRAINED = [{"prompt": f"Describe {w} without commas.", **NO_COMMA} for w in ("a cat", "a dog")]
REWARDS = {"correctness": {"source": "verifier"}, "conciseness": {"source": "rule", "weight": 0.5, "budget": 2}}


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def recipe_file(folder: Path, prompts, model: str | None = None, **grpo) -> Path:
    stage = {"name": "grpo", "kind": "grpo", "prompts": prompts, "verifier": "ifeval", "rewards": REWARDS, **grpo}
    recipe = {"stages": [stage], **({"model": model, "lora": {"r": 4, "alpha": 8}} if model else {})}
    path = folder / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_rows(tmp_path / "chat.jsonl", CHAT)
    write_rows(tmp_path / "ifeval.jsonl", CONSTRAINED)
    return tmp_path


def grpo_stage(folder: Path, prompts, **grpo):
    return load_recipe(recipe_file(folder, prompts, **grpo)).stages[0]


def test_prompts_take_one_spec_or_a_list_and_count_each_source_as_an_input(folder: Path):
    one = grpo_stage(folder, "ifeval.jsonl")
    assert isinstance(one.prompts, DataSpec) and one.prompt_sources == [one.prompts]
    assert list(input_digests(one)) == ["prompts"]
    two = grpo_stage(folder, ["chat.jsonl", {"path": "ifeval.jsonl", "limit": 1}])
    assert [Path(s.path).name for s in two.prompt_sources] == ["chat.jsonl", "ifeval.jsonl"]
    assert two.prompt_sources[1].limit == 1
    assert list(input_digests(two)) == ["prompts.0", "prompts.1"]
    # `align stages grpo` names both forms.
    assert plain_type(GRPOStage.model_fields["prompts"].annotation) == "DataSpec or list of DataSpec"


def test_a_sources_content_decides_the_fingerprint_not_its_folder(folder: Path):
    def fingerprint(where: Path) -> str:
        stage = grpo_stage(where, [str(where / "chat.jsonl"), str(where / "ifeval.jsonl")])
        return stage_fingerprint(stage, "upstream", input_digests(stage))

    before = fingerprint(folder)
    moved = folder / "moved"
    moved.mkdir()
    write_rows(moved / "chat.jsonl", CHAT)
    write_rows(moved / "ifeval.jsonl", CONSTRAINED)
    assert fingerprint(moved) == before
    write_rows(moved / "ifeval.jsonl", CONSTRAINED[:1])
    assert fingerprint(moved) != before


@pytest.mark.parametrize(
    ("prompts", "extra", "message"),
    [
        ([], {}, "stages.grpo.prompts: List should have at least 1 item"),
        (
            ["chat.jsonl", "ifeval.jsonl"],
            {"tools": ["python"], "prompt_selection": {"enabled": False}},
            "stages.grpo.prompts: a stage with tools reads one prompts source",
        ),
    ],
)
def test_an_empty_list_or_a_list_with_tools_is_one_line(folder: Path, prompts, extra: dict, message: str):
    with pytest.raises(AlignError, match=message):
        grpo_stage(folder, prompts, **extra)


def test_sources_are_dealt_one_row_of_each_in_turn(folder: Path):
    dataset, sources = load_stage_prompts(grpo_stage(folder, ["chat.jsonl", "ifeval.jsonl"]))
    assert dataset["prompt_source"] == [0, 1, 0, 1, 0]
    texts = [p[0]["content"] for p in dataset["prompt"]]
    chat, constrained = [r["prompt"] for r in CHAT], [r["prompt"] for r in CONSTRAINED]
    assert texts == [chat[0], constrained[0], chat[1], constrained[1], chat[2]]
    assert [(s.index, s.rows, s.verified) for s in sources] == [(0, 3, False), (1, 2, True)]
    # One table: a column one source lacks is None on its rows.
    assert dataset["instruction_id_list"][:2] == [None, NO_COMMA["instruction_id_list"]]
    # `limit` applies to each source before the dealing.
    dataset, _ = load_stage_prompts(grpo_stage(folder, [{"path": "chat.jsonl", "limit": 1}, "ifeval.jsonl"]))
    assert dataset["prompt_source"] == [0, 1, 1]


def test_the_verifier_scores_only_the_rows_that_carry_its_columns(folder: Path):
    stage = grpo_stage(folder, ["chat.jsonl", "ifeval.jsonl"])
    rows = load_stage_prompts(stage)[0].to_list()[:4]  # chat, constrained, chat, constrained
    rewards = stage_rewards(stage, None)
    correctness = next(r.function for r in rewards if r.name == "correctness")
    columns = {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}
    answers = ["no commas", "no commas", "a, b", "a, b"]
    assert correctness([r["prompt"] for r in rows], answers, **columns) == [None, 1.0, None, 0.0]
    # Totals as prompt selection computes them: a chat row's is its conciseness alone (0.5 x 1.0), not None.
    groups = [[a, a] for a in answers]
    assert score_groups(rewards, rows, groups) == [[0.5, 0.5], [1.5, 1.5], [0.5, 0.5], [0.5, 0.5]]


MIXED_SOURCE = [
    ([CONSTRAINED[0], CHAT[0]], "row 2: no 'instruction_id_list' column, which the ifeval verifier needs"),
    ([CHAT[0], CHAT[1], CONSTRAINED[0]], "row 3: a 'instruction_id_list' column, but the source's first row carries"),
    ([CONSTRAINED[0], {**CONSTRAINED[1], "kwargs": None}], "row 2: no 'kwargs' column, which the ifeval verifier"),
]


@pytest.mark.parametrize(("rows", "message"), MIXED_SOURCE)
def test_a_source_half_carrying_the_verifiers_columns_fails_in_one_line(folder: Path, capsys, rows, message):
    bad = write_rows(folder / "bad.jsonl", rows)
    recipe = recipe_file(folder, ["chat.jsonl", "bad.jsonl"])
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and f"{bad}: {message}" in err
    assert "on every row or on none" in err
    # The stage checks again when it loads its prompts (a hub source is checked only then).
    with pytest.raises(AlignError, match="on every row or on none"):
        load_stage_prompts(load_recipe(recipe).stages[0])


def test_a_verifier_with_no_source_carrying_its_columns_is_one_line(folder: Path, capsys):
    write_rows(folder / "more_chat.jsonl", CHAT)
    recipe = recipe_file(folder, ["chat.jsonl", "more_chat.jsonl"])
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stages.grpo.prompts: no source carries the ifeval verifier's columns" in err
    with pytest.raises(AlignError, match="no source carries"):
        load_stage_prompts(load_recipe(recipe).stages[0])
    assert main(["validate", str(recipe_file(folder, ["chat.jsonl", "ifeval.jsonl"]))]) == 0


def test_one_spec_stays_strict_about_the_verifiers_columns(folder: Path, capsys):
    recipe = recipe_file(folder, "chat.jsonl")
    assert main(["validate", str(recipe)]) == 2
    assert "chat.jsonl: row 1: no 'instruction_id_list' column" in capsys.readouterr().err
    with pytest.raises(AlignError, match="row 1: missing column"):
        load_stage_prompts(load_recipe(recipe).stages[0])


class ScriptedSampler:
    """Half the answers short, half long with a comma; every answer short for the prompt about rain."""

    name = "scripted"

    def sample(self, prompts, *, n, **_):
        varied = ["ok", "a long answer, with a comma"] * (n // 2)
        return [["ok"] * n if "rain" in p[-1]["content"] else varied for p in prompts]


def test_prompt_selection_counts_candidates_and_kept_prompts_per_source(folder: Path):
    recipe = load_recipe(recipe_file(folder, ["chat.jsonl", "ifeval.jsonl"], prompt_selection={"candidates": 4}))
    stage = recipe.stages[0]
    ctx = StageContext(recipe, stage, folder / "run", "unused-model")
    ctx.stage_dir.mkdir(parents=True)
    dataset, _ = load_stage_prompts(stage)
    kept, stats = select_prompts(stage, ctx, ScriptedSampler(), stage_rewards(stage, None), dataset)
    # Candidates: tea, cat, rain (every answer "ok": flat, dropped), dog.
    paths = [s.path for s in stage.prompt_sources]
    assert stats["by_source"] == [
        {"source": 0, "path": paths[0], "candidates": 2, "kept": 1},
        {"source": 1, "path": paths[1], "candidates": 2, "kept": 2},
    ]
    assert sorted(kept["prompt_source"]) == [0, 1, 1]
    saved = json.loads((ctx.stage_dir / "prompt_selection.json").read_text())
    assert saved["by_source"] == stats["by_source"]


def test_grpo_trains_on_two_sources_and_verifies_only_the_constrained_rows(folder: Path, tiny_model: str):
    """Without prompt selection TRL shuffles the prompts: two steps of two are one pass over all four, two from
    each source."""
    write_rows(folder / "chat.jsonl", CHAT[:2])
    short_run = {"num_generations": 2, "prompts_per_step": 2, "max_completion_length": 8, "max_steps": 2}
    logged = {"log_completions_steps": 1, "report_to": []}
    recipe = recipe_file(
        folder,
        ["chat.jsonl", "ifeval.jsonl"],
        model=tiny_model,
        aggregation="normalize_then_sum",
        prompt_selection={"enabled": False},
        backend="hf",
        **short_run,
        **logged,
    )
    outcome = run_recipe(load_recipe(recipe), folder / "run")[-1]
    assert outcome.status == "ran" and outcome.metrics["steps"] == 2
    stage_dir = folder / "run" / "grpo"
    rows = [json.loads(line) for line in (stage_dir / "completions.jsonl").read_text().splitlines()]
    assert {r["prompt_source"] for r in rows} == {0, 1}
    assert {r["prompt"] for r in rows} == {p["prompt"] for p in [*CHAT[:2], *CONSTRAINED]}
    for row in rows:
        correctness = row["rewards"]["correctness"]
        if row["prompt_source"] == 1:
            assert correctness in (0.0, 1.0)
            assert row["total"] == pytest.approx(correctness + 0.5 * row["rewards"]["conciseness"])
        else:
            assert correctness is None
            assert row["total"] == pytest.approx(0.5 * row["rewards"]["conciseness"])
    manifest = json.loads((stage_dir / "manifest.json").read_text())
    sources = [PromptSource(**s) for s in manifest["notes"]["prompt_sources"]]
    assert [(s.index, s.rows, s.verified) for s in sources] == [(0, 2, False), (1, 2, True)]
    metrics = manifest["metrics"]
    # The chat completions' missing verdicts are by design, not failures; none broke a step.
    assert metrics["reward_failures"] == {}
    assert metrics["nonfinite_steps_skipped"] == 0 and math.isfinite(metrics["train_loss"])
