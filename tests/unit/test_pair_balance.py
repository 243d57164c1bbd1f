"""Balanced pairs (`balance` of a pairs stage): prompts dealt out and capped per group, pairs capped per group one
prompt at a time, and stats.json counting each group. The pure steps on hand-made rows; the whole stage on the
tiny digit model, whose every answer is "1" or "2"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.config.load import load_recipe
from align.config.schema import PairBalance
from align.runner import run_recipe
from align.runtime.errors import AlignError
from align.stages.pairs.balance import balanced_prompts, kept_pairs


def test_prompts_are_dealt_out_by_group_and_capped_per_group():
    rows = [{"id": i, "level": level} for i, level in enumerate([4, 4, 4, 1, 10, 1, 4])]
    dealt = balanced_prompts(rows, PairBalance(by="level", prompts_per_group=2))
    # Groups in value order (1, 4, 10), two of each at most, file order within a group.
    assert [r["id"] for r in dealt] == [3, 0, 4, 5, 1]
    assert balanced_prompts(rows, None) == rows


def test_pair_quota_takes_one_pair_per_prompt_in_turn():
    rows = [{"level": "a"}, {"level": "a"}, {"level": "b"}]
    built = [{"pairs": ["a0-1", "a0-2", "a0-3"]}, {"pairs": ["a1-1"]}, {"pairs": ["b-1", "b-2"]}]
    kept = kept_pairs(built, rows, PairBalance(by="level", pairs_per_group=2))
    # Group a: prompt 0's first pair, then prompt 1's, not prompt 0's first two; group b has room for both.
    assert kept == [["a0-1"], ["a1-1"], ["b-1", "b-2"]]
    assert kept_pairs(built, rows, PairBalance(by="level")) == [p["pairs"] for p in built]


def _recipe(tmp_path: Path, model: str, chat_file: Path, stages_of, rows: list[dict], balance: dict) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    stages = stages_of(
        chat_file,
        prompts,
        sft={"max_steps": 1, "batch_size": 2, "max_length": 64},
        pairs={"k": 6, "max_new_tokens": 8, "batch_prompts": 4, "balance": balance},
    )
    path = tmp_path / "recipe.yaml"
    path.write_text(
        yaml.safe_dump({"name": "balanced", "model": model, "lora": {"r": 4, "alpha": 8}, "stages": stages})
    )
    return path


def test_balanced_stage_caps_prompts_and_pairs_and_counts_each_group(
    tmp_path: Path, digit_model: str, chat_file: Path, sft_pairs_stages
):
    # Eight "sub" prompts before two "sum" ones: unbalanced, every early batch would be subtraction.
    rows = [{"prompt": f"Say a digit ({i}).", "answer": str(1 + i % 2), "kind": "sub"} for i in range(8)]
    rows += [{"prompt": f"Add a digit ({i}).", "answer": str(1 + i % 2), "kind": "sum"} for i in range(2)]
    balance = {"by": "kind", "prompts_per_group": 6, "pairs_per_group": 2}
    run_recipe(
        load_recipe(_recipe(tmp_path, digit_model, chat_file, sft_pairs_stages, rows, balance)), tmp_path / "run"
    )
    pairs_dir = tmp_path / "run" / "pairs"
    stats = json.loads((pairs_dir / "stats.json").read_text())
    groups = stats["groups"]
    assert stats["by"] == "kind" and list(groups) == ["sub", "sum"]
    assert [groups[g]["prompts"] for g in groups] == [6, 2]
    assert [groups[g]["samples"] for g in groups] == [36, 12]
    # Six sub prompts answered "1" or "2" six times each build more than two pairs; the quota writes two.
    assert groups["sub"]["pairs_built"] > 2 and groups["sub"]["pairs"] == 2
    assert groups["sum"]["pairs"] == groups["sum"]["pairs_built"] <= 2
    written = [json.loads(line) for line in (pairs_dir / "pairs.jsonl").read_text().splitlines()]
    assert stats["pairs"] == len(written) == sum(g["pairs"] for g in groups.values())
    # One pair per prompt in turn: the two sub pairs come from two different prompts, both among the first six.
    sub = [row["prompt"][0]["content"] for row in written if row["prompt"][0]["content"].startswith("Say")]
    assert len(set(sub)) == 2 and all(int(text[-3]) < 6 for text in sub)
    metrics = json.loads((pairs_dir / "manifest.json").read_text())["metrics"]
    assert metrics["pairs_per_group"] == {"sub": 2, "sum": groups["sum"]["pairs"]}


def test_a_prompt_without_the_balance_column_is_named(
    tmp_path: Path, digit_model: str, chat_file: Path, sft_pairs_stages
):
    rows = [{"prompt": "Say a digit.", "answer": "1", "level": 1}, {"prompt": "Say one more.", "answer": "2"}]
    path = _recipe(tmp_path, digit_model, chat_file, sft_pairs_stages, rows, {"by": "level"})
    with pytest.raises(AlignError, match=r"prompts.jsonl: row 2: missing column\(s\) level"):
        run_recipe(load_recipe(path), tmp_path / "run")
