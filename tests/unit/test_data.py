"""Data loading: normalisation to conversational prompt/completion, and one-line errors naming file and row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from align.config.schema import DataSpec
from align.data.load import load_chat, load_prompts, load_rows
from align.runtime.errors import AlignError


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_prompt_completion_strings_become_chat_turns(chat_file: Path):
    rows = load_chat(DataSpec(path=str(chat_file)))
    assert len(rows) == 16
    assert rows[0]["prompt"] == [{"role": "user", "content": "What is 1 + 1?"}]
    assert rows[0]["completion"][0]["role"] == "assistant"
    assert rows[0]["completion"][0]["content"].endswith("\\boxed{2}.")


def test_messages_split_at_last_assistant_turn(tmp_path: Path):
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    rows = load_chat(DataSpec(path=str(jsonl(tmp_path / "m.jsonl", [{"messages": conversation}]))))
    assert rows[0]["prompt"] == conversation[:-1]
    assert rows[0]["completion"] == [conversation[-1]]


def test_custom_columns_and_limit(tmp_path: Path):
    path = jsonl(tmp_path / "q.jsonl", [{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)])
    rows = load_chat(DataSpec(path=str(path), prompt_column="question", completion_column="answer", limit=3))
    assert len(rows) == 3
    assert rows[2]["completion"][0]["content"] == "a2"


def test_parquet_is_read(tmp_path: Path):
    from datasets import Dataset

    path = tmp_path / "d.parquet"
    Dataset.from_list([{"prompt": "p", "completion": "c"}]).to_parquet(str(path))
    assert load_chat(DataSpec(path=str(path)))[0]["completion"][0]["content"] == "c"


def test_missing_columns_name_file_row_and_expected_columns(tmp_path: Path):
    path = jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "completion": "c"}, {"text": "no columns"}])
    with pytest.raises(AlignError) as err:
        load_chat(DataSpec(path=str(path)))
    message = str(err.value)
    assert "bad.jsonl: row 2" in message
    assert "'prompt' and 'completion', or 'messages'" in message
    assert "found: text" in message


def test_invalid_json_names_the_line(tmp_path: Path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": \n')
    with pytest.raises(AlignError, match=r"broken.jsonl:2: invalid JSON"):
        load_chat(DataSpec(path=str(path)))


def test_messages_must_end_with_assistant(tmp_path: Path):
    path = jsonl(tmp_path / "m.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    with pytest.raises(AlignError, match="must end with an assistant turn"):
        load_chat(DataSpec(path=str(path)))


def test_prompts_keep_verifier_columns(tmp_path: Path):
    path = jsonl(tmp_path / "p.jsonl", [{"prompt": "1+1?", "answer": "2"}])
    rows = load_prompts(DataSpec(path=str(path)), required=("answer",))
    assert rows[0]["prompt"] == [{"role": "user", "content": "1+1?"}]
    assert rows[0]["answer"] == "2"


def test_prompts_missing_required_column(tmp_path: Path):
    path = jsonl(tmp_path / "p.jsonl", [{"prompt": "1+1?"}])
    with pytest.raises(AlignError, match=r"p.jsonl: row 1: missing column\(s\) answer \(found: prompt\)"):
        load_prompts(DataSpec(path=str(path)), required=("answer",))


def test_unreachable_hub_dataset_is_one_line_error():
    with pytest.raises(AlignError, match="no-such-owner/no-such-set: cannot load hub dataset"):
        load_chat(DataSpec(path="no-such-owner/no-such-set"))


def test_humaneval_source_keeps_splits_apart_and_carries_tests():
    pairs = load_prompts(DataSpec(path="humaneval:pairs"), required=("tests", "entry_point"))
    held_out = load_prompts(DataSpec(path="humaneval:eval"), required=("tests",))
    assert len(pairs) + len(held_out) == 164
    assert not set(pairs["task_id"]) & set(held_out["task_id"])
    first = pairs[0]
    assert first["code_prompt"] in first["prompt"][0]["content"]
    assert "def check(candidate)" in first["tests"]


def test_unknown_humaneval_split_is_one_line():
    with pytest.raises(AlignError, match="humaneval:train"):
        load_prompts(DataSpec(path="humaneval:train"))


def test_non_utf8_byte_names_file_and_line(tmp_path: Path):
    path = tmp_path / "sft.jsonl"
    path.write_bytes(b'{"prompt": "a", "completion": "b"}\n\n{"prompt": "caf\xe9", "completion": "b"}\n')
    with pytest.raises(AlignError) as err:
        load_rows(DataSpec(path=str(path)))
    assert str(err.value) == f"{path}:3: not UTF-8 (byte 0xe9 at column 16)"


def test_empty_and_blank_only_files_have_no_rows(tmp_path: Path):
    for content in ("", "\n\n"):
        path = tmp_path / "empty.jsonl"
        path.write_text(content)
        with pytest.raises(AlignError, match=r"empty\.jsonl: no rows"):
            load_rows(DataSpec(path=str(path)))


def test_bad_row_after_blank_lines_names_its_line(tmp_path: Path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a", "answer": "1"}\n\n\n{"prompt": 3, "answer": "1"}\n')
    with pytest.raises(AlignError) as err:
        load_prompts(DataSpec(path=str(path)), required=("answer",))
    assert str(err.value) == f"{path}: row 2 (line 4): 'prompt' must be a string or messages"


def test_interleave_by_deals_groups_out_before_the_limit(tmp_path: Path):
    # Three level-3 rows first: a plain limit of 4 would keep only one other row. Groups go in value order (1, 3, 10).
    levels = [3, 3, 3, 1, 10, 1]
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"q{i}", "level": lv}) + "\n" for i, lv in enumerate(levels)))
    rows = load_rows(DataSpec(path=str(path), interleave_by="level", limit=4))
    assert [r["prompt"] for r in rows] == ["q3", "q0", "q4", "q5"]
    everything = load_rows(DataSpec(path=str(path), interleave_by="level"))
    assert [r["prompt"] for r in everything] == ["q3", "q0", "q4", "q5", "q1", "q2"]


def test_interleave_by_a_missing_column_names_the_row(tmp_path: Path):
    path = tmp_path / "prompts.jsonl"
    path.write_text(json.dumps({"prompt": "a", "level": 1}) + "\n" + json.dumps({"prompt": "b"}) + "\n")
    with pytest.raises(AlignError, match=r"prompts.jsonl: row 2: no 'level' column to interleave by"):
        load_rows(DataSpec(path=str(path), interleave_by="level"))
