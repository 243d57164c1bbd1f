"""The shipped reward-model data: deterministic build, disjoint splits, and the public-set converters."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from reward.dimensions import DIMENSIONS
from reward.jsonl import read_jsonl

DATA = Path(__file__).resolve().parents[2] / "data" / "reward"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"reward_data_{name}", DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script is executing
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build() -> ModuleType:
    return load_script("build")


@pytest.fixture(scope="module")
def shipped() -> dict[str, list[dict]]:
    return {split: read_jsonl(DATA / f"{split}.jsonl") for split in ("train", "eval")}


def test_builder_is_deterministic_and_matches_the_shipped_files(build: ModuleType, shipped: dict) -> None:
    first, second = build.build(build.load_sources()), build.build(build.load_sources())
    assert first == second
    assert first == shipped, "data/reward/*.jsonl are stale: run python data/reward/build.py"


def test_builder_script_writes_both_splits(build: ModuleType, tmp_path: Path, shipped: dict) -> None:
    assert build.main(["--out", str(tmp_path)]) == 0
    assert read_jsonl(tmp_path / "train.jsonl") == shipped["train"]
    assert read_jsonl(tmp_path / "eval.jsonl") == shipped["eval"]


def test_rows_are_well_formed_pairs_covering_every_dimension(shipped: dict) -> None:
    for split, minimum in (("train", 200), ("eval", 60)):
        rows = shipped[split]
        for row in rows:
            assert {"prompt", "chosen", "rejected", "dimension"} <= set(row)
            assert row["chosen"] != row["rejected"]
        counts = Counter(row["dimension"] for row in rows)
        assert set(counts) == set(DIMENSIONS)
        assert min(counts.values()) >= minimum, counts


def test_train_and_eval_share_no_questions_items_or_templates(build: ModuleType, shipped: dict) -> None:
    train, held_out = shipped["train"], shipped["eval"]
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held_out}
    assert not {r["source"] for r in train} & {r["source"] for r in held_out}
    for field in dataclasses.fields(build.Style):
        train_values = getattr(build.STYLES["train"], field.name)
        eval_values = getattr(build.STYLES["eval"], field.name)
        if isinstance(train_values, tuple):
            shared = {v for v in train_values if v} & {v for v in eval_values if v}
            assert not shared, f"{field.name} shared between splits: {shared}"


def test_lengths_overlap_where_the_dimension_is_not_about_length(shipped: dict) -> None:
    # Only conciseness may be decided by length; elsewhere the better answer must not always be the
    # shorter (or the longer) one, or the model could learn length instead of the dimension.
    for dimension in set(DIMENSIONS) - {"conciseness"}:
        rows = [r for r in shipped["train"] if r["dimension"] == dimension]
        longer = sum(len(r["chosen"]) > len(r["rejected"]) for r in rows) / len(rows)
        assert 0.2 <= longer <= 0.8, (dimension, longer)


def test_probe_set_is_small_hand_written_and_unseen(shipped: dict) -> None:
    probe = read_jsonl(DATA / "probe.jsonl")
    counts = Counter(row["dimension"] for row in probe)
    assert set(counts) == set(DIMENSIONS) and min(counts.values()) >= 4
    seen = {r["prompt"] for rows in shipped.values() for r in rows}
    assert not {r["prompt"] for r in probe} & seen


def _template_fragments(style: object) -> set[str]:
    """Every template string of a build style, cut at its first slot; short ones say nothing."""
    fragments = set()
    for field in dataclasses.fields(style):
        value = getattr(style, field.name)
        if not isinstance(value, tuple):
            continue
        for text in (t for item in value for t in (item if isinstance(item, tuple) else (item,))):
            fixed = text.split("{")[0].strip()
            if len(fixed) >= 15:
                fragments.add(fixed)
    return fragments


def test_probe_set_has_ten_pairs_per_dimension_written_without_the_build_templates(build: ModuleType) -> None:
    probe = read_jsonl(DATA / "probe.jsonl")
    counts = Counter(row["dimension"] for row in probe)
    assert all(counts[d] >= 10 for d in DIMENSIONS), counts
    assert len({r["prompt"] for r in probe}) == len(probe)
    fragments = set().union(*(_template_fragments(style) for style in build.STYLES.values()))
    assert len(fragments) > 50  # the check reads the real template lists
    for row in probe:
        for side in ("chosen", "rejected"):
            used = [f for f in fragments if f in row[side]]
            assert not used, (row["prompt"], side, used)


# --- converters for public sets (local fixtures, never a hub download) ---------------------------------


HELPSTEER_ROWS = [
    {"prompt": "Explain DNS.", "response": "DNS maps names to IP addresses.",
     "helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 1, "verbosity": 1},
    {"prompt": "Explain DNS.", "response": "DNS is a kind of database, I think, and it does stuff with names...",
     "helpfulness": 2, "correctness": 2, "coherence": 4, "complexity": 1, "verbosity": 3},
    {"prompt": "Say hi.", "response": "Hi!",
     "helpfulness": 4, "correctness": 4, "coherence": 4, "complexity": 0, "verbosity": 0},
]  # fmt: skip


def test_helpsteer2_rows_become_ratings_and_pairs() -> None:
    from reward import convert

    rows = convert.convert_helpsteer2(HELPSTEER_ROWS, margin=1)
    rated = [r for r in rows if "ratings" in r]
    pairs = [r for r in rows if "dimension" in r]
    assert len(rated) == 3
    assert rated[0]["ratings"] == {"helpfulness": 1.0, "truthfulness": 1.0, "relevance": 1.0, "conciseness": 0.75}
    # Same prompt: they differ on helpfulness, correctness and verbosity, not on coherence.
    assert sorted(p["dimension"] for p in pairs) == ["conciseness", "helpfulness", "truthfulness"]
    assert all(p["chosen"] == HELPSTEER_ROWS[0]["response"] for p in pairs)
    assert convert.convert_helpsteer2(HELPSTEER_ROWS, margin=3) == rated  # a 2-point gap is below margin 3


def ultrafeedback_completion(text: str, truth: str, helpful: str, following: str) -> dict:
    return {
        "response": text,
        "annotations": {
            "truthfulness": {"Rating": truth, "Rationale": "..."},
            "helpfulness": [{"Rating": helpful, "Rationale": "..."}],
            "instruction_following": {"Rating": following, "Rationale": "..."},
            "honesty": {"Rating": "1", "Rationale": "..."},
        },
    }


def test_ultrafeedback_aspects_become_pairs_per_dimension(tmp_path: Path) -> None:
    from reward import convert

    row = {
        "instruction": "Name a prime.",
        "completions": [
            ultrafeedback_completion("7", "5", "4", "5"),
            ultrafeedback_completion("9", "1", "4", "N/A"),
            ultrafeedback_completion("2, the only even prime.", "5", "5", "5"),
        ],
    }
    source = tmp_path / "uf.jsonl"
    source.write_text(json.dumps(row) + "\n")
    out = tmp_path / "pairs.jsonl"
    assert convert.main(["convert", "ultrafeedback", str(source), "--out", str(out)]) == 0
    pairs = read_jsonl(out)
    got = sorted((p["dimension"], p["chosen"], p["rejected"]) for p in pairs)
    assert got == [
        ("helpfulness", "2, the only even prime.", "7"),
        ("helpfulness", "2, the only even prime.", "9"),
        ("truthfulness", "2, the only even prime.", "9"),
        ("truthfulness", "7", "9"),
    ]  # relevance: "N/A" is skipped, and 7 vs 2 tie at 5; honesty is not mapped
