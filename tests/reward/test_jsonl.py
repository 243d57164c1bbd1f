"""The JSON Lines reader skips only a torn last line (a kill mid-append), and only when asked to."""

from __future__ import annotations

from pathlib import Path

import pytest

from reward import read_jsonl
from reward.jsonl import JsonlError


def test_a_torn_last_line_is_skipped_when_the_file_is_appended_to(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b": "\xc3')  # the last append cut mid-character
    assert read_jsonl(path, torn_tail=True) == [{"a": 1}, {"a": 2}]
    with pytest.raises(JsonlError, match=r"log.jsonl:3: not UTF-8"):
        read_jsonl(path)


@pytest.mark.parametrize("bad", [b"{not json}\n", b"[1, 2]\n", b"\xff\n"])
def test_a_bad_line_before_the_last_is_an_error_even_for_appended_files(tmp_path: Path, bad: bytes):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n' + bad + b'{"a": 3}\n')
    with pytest.raises(JsonlError, match=r"log.jsonl:2: "):
        read_jsonl(path, torn_tail=True)


def test_a_complete_last_line_that_is_bad_is_not_torn(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": \n')  # ends in a newline: written whole, so damaged, not cut short
    with pytest.raises(JsonlError, match=r"log.jsonl:2: invalid JSON"):
        read_jsonl(path, torn_tail=True)
