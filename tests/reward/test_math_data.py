import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from reward.verifiers.math import extract_answer, verify_math

MATH_DIR = Path(__file__).resolve().parents[2] / "data" / "math"
SPLITS = ("sft", "prompts", "eval")


def _build_module():
    # data/ is not a package, so the build script is loaded from its path.
    spec = importlib.util.spec_from_file_location("math_build", MATH_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (MATH_DIR / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_files_are_what_build_writes() -> None:
    build = _build_module()
    for split, rows in build.build().items():
        assert (MATH_DIR / f"{split}.jsonl").read_text(encoding="utf-8") == build.render(rows), split


def test_prompts_are_disjoint_across_splits() -> None:
    seen: dict[str, str] = {}
    for split in (*SPLITS, "eval_ood"):
        for row in _rows(split):
            assert row["prompt"] not in seen, f"{row['prompt']!r} in {seen.get(row['prompt'])} and {split}"
            seen[row["prompt"]] = split


def test_a_key_shared_by_two_splits_is_refused() -> None:
    build = _build_module()
    problem = build.Problem("7+5", "What is 7 + 5?", "7 + 5 = 12.", 12)
    other = build.Problem("7+4", "What is 7 + 4?", "7 + 4 = 11.", 11)
    build.check_keys_disjoint(1, {"eval": [problem], "prompts": [other], "sft": []})
    with pytest.raises(AssertionError, match="keys in both eval and sft"):
        build.check_keys_disjoint(1, {"eval": [problem], "prompts": [other], "sft": [problem]})


def test_shipped_splits_share_no_problem_key() -> None:
    # Bare-expression prompts name their key exactly; half of every split is written that way.
    owner: dict[str, str] = {}
    for split in SPLITS:
        for row in _rows(split):
            match = re.match(r"What is (\d+) ([-+×]) (\d+)\?", row["prompt"])
            if match:
                key = "".join(match.groups())
                assert owner.setdefault(key, split) == split, f"{key} in {owner[key]} and {split}"
    assert set(owner.values()) == set(SPLITS)


def test_split_sizes_and_levels() -> None:
    assert 300 <= len(_rows("sft")) <= 600
    levels = [r["level"] for r in _rows("prompts")]
    # The RL prompts weigh the levels the SFT policy still gets wrong (3 and 4).
    assert [levels.count(level) for level in (1, 2, 3, 4)] == [20, 20, 60, 60]
    assert len(_rows("eval")) == 400
    assert {r["level"] for r in _rows("eval")} == {1, 2, 3, 4}
    # 100 per level; the first 100 rows are the original 25-per-level set (`--limit 100` still measures it).
    assert [[r["level"] for r in _rows("eval")].count(level) for level in (1, 2, 3, 4)] == [100] * 4
    assert [[r["level"] for r in _rows("eval")[:100]].count(level) for level in (1, 2, 3, 4)] == [25] * 4


def _key(prompt: str) -> str | None:
    match = re.match(r"What is (\d+) ([-+×]) (\d+)\?", prompt)
    return None if match is None else f"{match[1]}{ {'×': '*'}.get(match[2], match[2]) }{match[3]}"


def test_every_eval_row_names_its_key_and_no_training_file_asks_one() -> None:
    training_keys = {_key(r["prompt"]) for split in ("sft", "prompts") for r in _rows(split)} - {None}
    for split in ("eval", "eval_ood"):
        rows = _rows(split)
        assert all(r["key"] not in training_keys for r in rows), split
        # A bare-expression row's key is the expression it asks.
        assert all(r["key"] == _key(r["prompt"]) for r in rows if _key(r["prompt"])), split
    # Keys are reused across wordings only where a level has run out of unseen keys (levels 1 and 3).
    level_4 = [r["key"] for r in _rows("eval") if r["level"] == 4]
    assert len(set(level_4)) == len(level_4) == 100


def test_a_training_key_in_the_eval_extension_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    build = _build_module()
    problem = build.Problem("7+5", "What is 7 + 5?", "7 + 5 = 12.", 12)
    with pytest.raises(AssertionError, match="keys in both eval and training"):
        build._extension({level: [(7, 5)] for level in (1, 2, 3, 4)}, {1: [problem]}, set())


def _skeleton(prompt: str, names: tuple[str, ...], items: tuple[str, ...]) -> str:
    """A prompt with its numbers, names and things blanked: the template it was written from."""
    text = re.sub(r"\d+", "N", prompt)
    for word in sorted(names + items, key=len, reverse=True):
        text = text.replace(word, "W")
    return text


def test_out_of_template_set_shares_no_wording_with_training() -> None:
    build = _build_module()
    words = (build.NAMES + build.OOD_NAMES, build.ITEMS + build.OOD_ITEMS)
    training = {_skeleton(r["prompt"], *words) for split in ("sft", "prompts", "eval") for r in _rows(split)}
    ood = _rows("eval_ood")
    assert len(ood) == 200 and {r["level"] for r in ood} == {1, 2, 3, 4}
    assert not {_skeleton(r["prompt"], *words) for r in ood} & training
    assert not any(r["prompt"].startswith("What is") or "Put the final answer" in r["prompt"] for r in ood)
    assert not set(build.OOD_NAMES) & set(build.NAMES) and not set(build.OOD_ITEMS) & set(build.ITEMS)
    for row in ood:
        numbers = [int(n) for n in re.findall(r"\d+", row["prompt"])]
        a, b = (int(n) for n in re.split(r"[-+*]", row["key"]))
        assert sorted(numbers) == sorted([a, b]), row  # the prompt asks exactly its key's operands
        op = re.search(r"[-+*]", row["key"])[0]
        assert str({"+": a + b, "-": a - b, "*": a * b}[op]) == row["answer"], row
        assert "\\boxed{}" in row["prompt"]


@pytest.mark.parametrize("split", SPLITS)
def test_every_prompt_asks_for_a_boxed_answer(split: str) -> None:
    assert all(r["prompt"].endswith("Put the final answer in \\boxed{}.") for r in _rows(split))


def test_sft_completions_are_correct_worked_solutions() -> None:
    for row in _rows("sft"):
        completion = row["completion"]
        equations = re.findall(r"(\d+) ([-+×]) (\d+) = (\d+)\.", completion)
        assert equations, completion
        for a, op, b, result in equations:
            value = {"+": int(a) + int(b), "-": int(a) - int(b), "×": int(a) * int(b)}[op]
            assert value == int(result), completion
        assert re.fullmatch(r"(?:[^\\]+ )?The answer is \\boxed\{\d+\}\.", completion), completion
        assert extract_answer(completion) == equations[-1][3]
        assert len(completion) <= 120


@pytest.mark.parametrize("split", ["prompts", "eval"])
def test_expression_prompts_have_the_right_answer(split: str) -> None:
    checked = 0
    for row in _rows(split):
        match = re.match(r"What is (\d+) ([-+×]) (\d+)\?", row["prompt"])
        if match:
            a, op, b = int(match[1]), match[2], int(match[3])
            assert str({"+": a + b, "-": a - b, "×": a * b}[op]) == row["answer"], row
            assert verify_math(f"\\boxed{{{row['answer']}}}", row["answer"]).score == 1.0
            checked += 1
    assert checked > 0
