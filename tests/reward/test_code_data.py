"""The shipped procedural code problems: rebuilt byte for byte, split by problem key, and every reference
solution passing its own tests in the real sandbox while a wrong one fails."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from align.data.load import CODE_INSTRUCTION

CODE_DIR = Path(__file__).resolve().parents[2] / "data" / "code"
SPLITS = ("sft", "prompts", "grpo", "eval")


def _build_module():
    spec = importlib.util.spec_from_file_location("code_procedural", CODE_DIR / "procedural.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (CODE_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_files_are_what_the_build_writes() -> None:
    build = _build_module()
    for split, rows in build.build().items():
        assert (CODE_DIR / f"{split}.jsonl").read_text(encoding="utf-8") == build.render(rows), split


def test_splits_share_no_problem_key_and_held_out_keys_are_asked_once() -> None:
    owner: dict[str, str] = {}
    for split in SPLITS:
        keys = [r["key"] for r in _rows(split)]
        for key in keys:
            assert owner.setdefault(key, split) == split, f"{key} in {owner[key]} and {split}"
        if split != "sft":
            assert len(set(keys)) == len(keys), split
    sizes = {split: len(_rows(split)) for split in SPLITS}
    assert sizes["eval"] >= 150 and sizes["prompts"] >= 150 and sizes["sft"] >= 120 and sizes["grpo"] >= 30, sizes


def test_rl_only_kinds_never_reach_sft_and_grpo_only_kinds_never_reach_the_pairs() -> None:
    build = _build_module()
    rl_only, grpo_only = build.RL_ONLY_KINDS, build.GRPO_ONLY_KINDS
    kinds = {split: {r["key"].split(":")[0] for r in _rows(split)} for split in SPLITS}
    assert rl_only and not rl_only & kinds["sft"]
    assert rl_only <= kinds["eval"] and rl_only - grpo_only <= kinds["prompts"]
    assert kinds["sft"], "SFT still teaches the other kinds"
    # GRPO's effect is measured on kinds DPO never paired: its prompts are those kinds and nothing else.
    assert grpo_only and kinds["grpo"] == grpo_only and not grpo_only & kinds["prompts"]


def test_a_key_shared_by_two_splits_is_refused() -> None:
    build = _build_module()
    import random

    family = build.FAMILIES[0]
    one, other = (build.make(family, p, random.Random(0)) for p in (7, 8))
    build.check_keys_disjoint("add", {"eval": [one], "sft": [other]})
    with pytest.raises(AssertionError, match="keys in both eval and sft"):
        build.check_keys_disjoint("add", {"eval": [one], "sft": [one]})


@pytest.mark.parametrize("split", SPLITS)
def test_rows_are_worded_as_the_code_stages_expect(split: str) -> None:
    for row in _rows(split):
        assert row["prompt"] == CODE_INSTRUCTION.format(code=row["code_prompt"])
        assert row["code_prompt"].startswith(f"def {row['entry_point']}(")
        answer = row["completion" if split == "sft" else "solution"]
        assert answer.startswith("```python\n" + row["code_prompt"]) and answer.endswith("```")


def test_reference_solutions_pass_and_wrong_ones_fail_in_the_sandbox() -> None:
    from reward.sandbox import SandboxPool
    from reward.verifiers.code import CodeItem, verify_code_batch

    # One problem of every kind from the held-out split, each with its reference and a wrong body.
    by_kind = {row["key"].split(":")[0]: row for row in _rows("eval")}
    assert len(by_kind) == len(_build_module().FAMILIES)
    items = [
        CodeItem(answer, row["tests"], row["entry_point"], row["code_prompt"])
        for row in by_kind.values()
        for answer in (row["solution"], "    return None\n")
    ]
    with SandboxPool() as pool:
        verdicts = verify_code_batch(items, pool)
    assert [v.score for v in verdicts[0::2]] == [1.0] * len(by_kind), [v.reason for v in verdicts[0::2]]
    assert all(v.score is not None and v.score < 1.0 for v in verdicts[1::2])
