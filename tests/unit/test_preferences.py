"""DPO on a user's preference data: TRL's formats normalised, bad rows named by number, a real DPO run on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.cli import main
from align.config.load import load_recipe
from align.config.schema import DataSpec
from align.data.preferences import preference_row, preference_rows
from align.runner import run_recipe
from align.runtime.errors import AlignError

USER = [{"role": "user", "content": "What is 2 + 2?"}]


def reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def test_plain_explicit_prompt_becomes_conversational():
    row = preference_row({"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5", "id": 7}, "r")
    assert row == {"prompt": USER, "chosen": reply("4"), "rejected": reply("5")}


def test_conversational_explicit_prompt_is_kept():
    row = preference_row({"prompt": USER, "chosen": reply("4"), "rejected": reply("5")}, "r")
    assert row == {"prompt": USER, "chosen": reply("4"), "rejected": reply("5")}


def test_implicit_prompt_is_the_shared_turns():
    row = preference_row({"chosen": USER + reply("4"), "rejected": USER + reply("5")}, "r")
    assert row == {"prompt": USER, "chosen": reply("4"), "rejected": reply("5")}


def test_implicit_plain_prompt_is_cut_at_a_word_boundary():
    row = preference_row({"chosen": "Q: 2 + 2? A: 4", "rejected": "Q: 2 + 2? A: 42"}, "r")
    assert row["prompt"] == [{"role": "user", "content": "Q: 2 + 2? A: "}]
    assert (row["chosen"], row["rejected"]) == (reply("4"), reply("42"))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "q", "chosen": "a"}, "row 2: missing 'rejected'"),
        ({"prompt": "q", "chosen": "a", "rejected": "a"}, "row 2: 'chosen' and 'rejected' are identical"),
        ({"prompt": "q", "chosen": " ", "rejected": "b"}, "row 2: 'chosen' is empty"),
        ({"prompt": 3, "chosen": "a", "rejected": "b"}, "row 2: 'prompt' must be a string or chat messages"),
        ({"chosen": "apple", "rejected": "banana"}, "row 2: no 'prompt'"),
        ({"prompt": "q", "chosen": USER + reply("a"), "rejected": "b"}, "row 2: 'chosen' must be one assistant reply"),
        ({"prompt": USER + reply("x"), "chosen": "a", "rejected": "b"}, "row 2: the prompt must end with a user turn"),
    ],
)
def test_bad_row_is_named_by_number(row: dict, message: str):
    good = {"prompt": "q", "chosen": "a", "rejected": "b"}
    with pytest.raises(AlignError, match="^prefs.jsonl: " + message.replace("+", r"\+")):
        preference_rows([good, row], "prefs.jsonl")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def user_pairs(tmp_path: Path) -> Path:
    rows = [
        {
            "prompt": f"What is {a} + {a}?",
            "chosen": f"The answer is {2 * a}.",
            "rejected": f"The answer is {2 * a + 1}.",
        }
        for a in range(1, 5)
    ]
    return write_jsonl(tmp_path / "prefs.jsonl", rows)


def dpo_recipe(tmp_path: Path, tiny_model: str, chat_file: Path, pairs: object) -> Path:
    path = tmp_path / "byo.yaml"
    train = {"max_steps": 2, "batch_size": 2, "max_length": 64, "report_to": []}
    recipe = {
        "model": tiny_model,
        "lora": {"r": 4, "alpha": 8},
        "stages": [
            {"name": "sft", "kind": "sft", "data": str(chat_file), **train},
            {"name": "dpo", "kind": "dpo", "init": "sft", "pairs": pairs, **train},
        ],
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_dpo_pairs_accepts_a_stage_name_a_path_or_a_data_spec(tmp_path: Path, tiny_model: str, chat_file: Path):
    prefs = user_pairs(tmp_path)
    as_path = load_recipe(dpo_recipe(tmp_path, tiny_model, chat_file, str(prefs))).stages[1]
    assert as_path.pairs == DataSpec(path=str(prefs))
    as_spec = load_recipe(dpo_recipe(tmp_path, tiny_model, chat_file, {"path": str(prefs), "limit": 2})).stages[1]
    assert as_spec.pairs.limit == 2


def test_dpo_pairs_naming_a_non_pairs_stage_is_still_rejected(tmp_path: Path, tiny_model: str, chat_file: Path, capsys):
    assert main(["validate", str(dpo_recipe(tmp_path, tiny_model, chat_file, "sft"))]) == 2
    assert "stages.dpo.pairs: 'sft' is a sft stage; expected pairs" in capsys.readouterr().err


def test_dpo_trains_on_user_preference_file(tmp_path: Path, tiny_model: str, chat_file: Path):
    prefs = user_pairs(tmp_path)
    outcomes = run_recipe(load_recipe(dpo_recipe(tmp_path, tiny_model, chat_file, str(prefs))), tmp_path / "run")
    dpo = outcomes[-1]
    assert dpo.status == "ran" and dpo.metrics["pairs"] == 4 and dpo.metrics["steps"] == 2
    manifest = json.loads((tmp_path / "run" / "dpo" / "manifest.json").read_text())
    assert len(manifest["inputs"]["pairs"]) == 64  # the file's sha256: editing it re-runs DPO


def test_bad_user_row_stops_the_run_with_its_number(tmp_path: Path, tiny_model: str, chat_file: Path, capsys):
    prefs = write_jsonl(tmp_path / "prefs.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q"}])
    recipe = dpo_recipe(tmp_path, tiny_model, chat_file, str(prefs))
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run")]) == 2
    assert f"{prefs}: row 2: missing 'chosen' and 'rejected'" in capsys.readouterr().err


def test_pairs_stage_merges_user_pairs_after_the_built_ones(tmp_path: Path, tiny_model: str, chat_file: Path):
    prefs = user_pairs(tmp_path)
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "What is 1 + 1?", "answer": "2"}])
    path = tmp_path / "merge.yaml"
    stages = [
        {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 1, "max_length": 64, "report_to": []},
        {
            "name": "pairs",
            "kind": "pairs",
            "init": "sft",
            "prompts": str(prompts),
            "verifier": "math",
            "k": 2,
            "max_new_tokens": 4,
            "backend": "hf",
            "user_pairs": str(prefs),
        },
    ]
    path.write_text(yaml.safe_dump({"model": tiny_model, "lora": {"r": 4, "alpha": 8}, "stages": stages}))
    outcomes = run_recipe(load_recipe(path), tmp_path / "run")
    metrics = outcomes[-1].metrics
    assert metrics["user_pairs"] == 4
    rows = [json.loads(line) for line in (tmp_path / "run" / "pairs" / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == metrics["pairs"] + 4
    assert [r["source"] for r in rows[-4:]] == ["user"] * 4
    assert rows[-1]["chosen"] == reply("The answer is 8.")
