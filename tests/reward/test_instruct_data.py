"""The shipped instruction-following data: reproducible, topic-disjoint splits, verified SFT answers, and an
unseen-constraints eval set whose types no training row uses."""

import importlib.util
import json
import sys
from pathlib import Path

from reward import check_constraints, get_verifier

INSTRUCT_DIR = Path(__file__).resolve().parents[2] / "data" / "instruct"
SPLITS = ("sft", "prompts", "eval", "eval_ifbench")


def _build_module():
    # data/ is not a package, so the build script is loaded from its path.
    spec = importlib.util.spec_from_file_location("instruct_build", INSTRUCT_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (INSTRUCT_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_files_are_what_build_writes() -> None:
    build = _build_module()
    for split, rows in build.build().items():
        assert (INSTRUCT_DIR / f"{split}.jsonl").read_text(encoding="utf-8") == build.render(rows), split


def test_topics_are_disjoint_across_training_and_eval() -> None:
    topics = {split: {row["key"] for row in _rows(split)} for split in SPLITS}
    assert not topics["sft"] & topics["prompts"]
    assert not (topics["sft"] | topics["prompts"]) & (topics["eval"] | topics["eval_ifbench"])


def test_every_sft_answer_meets_every_constraint() -> None:
    for number, row in enumerate(_rows("sft"), start=1):
        results = check_constraints(row["completion"], row)
        assert all(r.strict for r in results), (number, row["completion"], results)


def test_rows_have_one_to_three_checkable_constraints() -> None:
    verifier = get_verifier("ifeval")
    for split in SPLITS:
        for row in _rows(split):
            assert 1 <= len(row["instruction_id_list"]) <= 3
            assert verifier.missing_columns(row) == []
            assert verifier.row_problem(row) is None, (split, row)


def test_unseen_set_uses_only_types_no_training_row_uses() -> None:
    trained = {i for split in ("sft", "prompts") for row in _rows(split) for i in row["instruction_id_list"]}
    unseen = {i for row in _rows("eval_ifbench") for i in row["instruction_id_list"]}
    assert unseen and not unseen & trained
    assert {i for row in _rows("eval") for i in row["instruction_id_list"]} <= trained
