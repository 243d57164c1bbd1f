"""The docs say what the code does: the recipe reference is the schema's, every YAML block is a recipe that
validates, every `align ...` command line parses, and every `make` target and script the docs name exists."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from align.cli import FORWARDED, build_parser, main
from align.config.reference import render

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for number, match in enumerate(FENCE.finditer(page.read_text(encoding="utf-8"))):
            if match.group(1) == language:
                found.append((f"{page.relative_to(ROOT)}#{number}", match.group(2)))
    return found


def command_lines() -> list[tuple[str, list[str]]]:
    lines = []
    for where, text in blocks("bash"):
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the command
                words.pop(0)
            if words[:1] == ["accelerate"] and "-m" in words:  # accelerate launch ... -m align run ...
                words = words[words.index("-m") + 1 :]
            if words:
                lines.append((f"{where}: {line.strip()}", words))
    return lines


def test_recipe_reference_is_generated_from_the_schema():
    stale = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8") != render()
    assert not stale, "docs/reference.md is stale: run `make reference`"


@pytest.mark.parametrize(("where", "text"), blocks("yaml"), ids=lambda v: v if "#" in str(v) else "")
def test_every_yaml_block_is_a_recipe_that_validates(where: str, text: str, tmp_path: Path, monkeypatch, capsys):
    """Run as `align validate` runs it. Files the reader brings (`my_prefs.jsonl`) are made empty in the working
    folder; every shipped path must exist as written."""
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text, encoding="utf-8")
    for _ in range(5):
        code = main(["validate", str(recipe)])
        missing = re.search(r"file not found: (\S+)", capsys.readouterr().err)
        if code == 0 or not missing or missing.group(1).startswith("data/"):
            break
        (tmp_path / missing.group(1)).write_text("", encoding="utf-8")
    assert code == 0, f"{where} does not validate"


def test_docs_name_commands():
    """Guard against a parser that finds nothing: the pages do show these commands."""
    firsts = {words[0] for _, words in command_lines()}
    assert {"align", "make", "python"} <= firsts


def command_id(value: object) -> str:
    return value.split(": ", 1)[-1] if isinstance(value, str) else ""


@pytest.mark.parametrize(("where", "words"), command_lines(), ids=command_id)
def test_every_command_line_parses(where: str, words: list[str]):
    program, *args = words
    if program == "align":
        if args[0] in FORWARDED:
            tool = importlib.import_module(FORWARDED[args[0]])
            tool.build_parser().parse_args(args[1:])
        else:
            build_parser().parse_args(args)
    elif program == "make":
        targets = set(re.findall(r"^([\w. -]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
        known = {t for line in targets for t in line.split()}
        assert all(a in known or "=" in a for a in args), where
    elif program in ("python", "bash") and args[0].endswith((".py", ".sh")):
        assert (ROOT / args[0]).is_file(), where
