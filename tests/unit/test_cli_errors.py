"""Every subcommand and option given wrong arguments: one `error:` line on stderr naming the problem, nothing on
stdout, exit status 2, no traceback (issue 12 §6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from align.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "recipes" / "demo.yaml")
MODEL = "smollm2-135m-instruct"

CASES = [
    # the top level
    ([], "required: command"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["--bogus"], "required: command"),
    # run
    (["run"], "required: recipe"),
    (["run", "nope.yaml"], "nope.yaml: no such recipe file"),
    (["run", DEMO, "--bogus"], "unrecognized arguments: --bogus"),
    (["run", DEMO, "--set", "noequals"], "expected KEY=VALUE"),
    (["run", DEMO, "--set", "stages.sft.learning_rate=abc"], "stages.sft.learning_rate: Input should be"),
    (["run", DEMO, "--until", "nosuch", "--run-dir", "RUN_DIR"], "no stage named 'nosuch'"),
    (["run", DEMO, "--stages", "sft,nosuch", "--run-dir", "RUN_DIR"], "no stage named 'nosuch'"),
    # validate
    (["validate"], "required: recipe"),
    (["validate", "nope.yaml"], "nope.yaml: no such recipe file"),
    (["validate", DEMO, "--bogus"], "unrecognized arguments: --bogus"),
    (["validate", DEMO, "--set", "nokey=1"], "nokey: unknown key"),
    (["validate", DEMO, "--set", "stages.sft.epochs=many"], "stages.sft.epochs"),
    (["validate", DEMO, "--preset", "qwen9"], "preset: unknown preset 'qwen9'"),
    (["run", DEMO, "--preset", "qwen9"], "preset: unknown preset 'qwen9'"),
    # presets, export
    (["presets", "qwen9"], "preset: unknown preset 'qwen9'"),
    (["export"], "required: stage_dir, --out"),
    (["export", "/no/such", "--out", "/tmp/x"], "/no/such: not a completed stage folder"),
    (["export", "/no/such", "--out", "/tmp/x", "--dtype", "fp8"], "--dtype: invalid choice: 'fp8'"),
    # stages
    (["stages", "bogus"], "unknown stage kind 'bogus'"),
    (["stages", "sft", "extra"], "unrecognized arguments: extra"),
    # eval
    (["eval"], "required: target"),
    (["eval", "/no/such"], "/no/such: no such folder"),
    (["eval", MODEL, "--samples", "x"], "--samples: invalid int value"),
    (["eval", MODEL, "--samples", "0"], "samples must be at least 1"),
    (["eval", MODEL, "--limit", "x"], "--limit: invalid int value"),
    (["eval", MODEL, "--limit", "0"], "limit must be at least 1"),
    (["eval", MODEL, "--max-new-tokens", "x"], "--max-new-tokens: invalid int value"),
    (["eval", MODEL, "--backend", "tpu"], "--backend: invalid choice: 'tpu'"),
    (["eval", MODEL, "--seed", "x"], "--seed: invalid int value"),
    (["eval", MODEL, "--tools", "python", "--max-turns", "1"], "max_turns must be at least 2"),
    (["eval", MODEL, "--tools", "shell"], "--tools[0]: cannot import shell"),
    (["eval", MODEL, "--suite", "poetry"], "unknown suite poetry"),
    (["eval", MODEL, "--math-data", "/no/file.jsonl"], "--math-data: file not found"),
    (["eval", MODEL, "--reward", "/no/folder"], "--reward: /no/folder: no such folder"),
    (["eval", MODEL, "--bogus"], "unrecognized arguments: --bogus"),
    # report
    (["report"], "required: run_dir"),
    (["report", "/no/such"], "not a run folder"),
    (["report", "/no/such", "--bogus"], "unrecognized arguments: --bogus"),
    # reward
    (["reward"], "required: command"),
    (["reward", "frob"], "invalid choice: 'frob'"),
    (["reward", "score"], "required: file"),
    (["reward", "score", "f.jsonl"], "one of the arguments --model --hub --judge is required"),
    (["reward", "score", "--hub", "x", "f.jsonl"], "f.jsonl: no such file"),
    (["reward", "score", "--model", "/no/m", "/no/f.jsonl"], "/no/f.jsonl: no such file"),
    (["reward", "score", "--model", "/no/m", "f.jsonl", "--batch-size", "x"], "--batch-size: invalid int value"),
    (["reward", "score", "--model", "/no/m", "f.jsonl", "--bogus"], "unrecognized arguments: --bogus"),
    # data
    (["data"], "required: command"),
    (["data", "convert", "helpsteer2"], "required: source, --out"),
    (["data", "convert", "nosuchset", "x", "--out", "o.jsonl"], "invalid choice: 'nosuchset'"),
    (["data", "convert", "helpsteer2", "/no/hs.jsonl", "--out", "o.jsonl"], "/no/hs.jsonl: no such file"),
    # sandbox
    (["sandbox"], "required: command"),
    (["sandbox", "frob"], "invalid choice: 'frob'"),
    (["sandbox", "run"], "required: file"),
    (["sandbox", "run", "/no/p.py"], "cannot read /no/p.py"),
    (["sandbox", "run", DEMO, "--timeout", "x"], "--timeout: invalid float value"),
    (["sandbox", "run", DEMO, "--timeout", "-1"], "timeout"),
    (["sandbox", "run", DEMO, "--memory-mb", "x"], "--memory-mb: invalid int value"),
    (["sandbox", "run", DEMO, "--harness", "/no/h.py"], "cannot read /no/h.py"),
    (["sandbox", "run", DEMO, "--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[" ".join(a) or "(none)" for a, _ in CASES])
def test_wrong_arguments_are_one_line_and_exit_2(argv: list[str], expected: str, tmp_path: Path, capsys):
    run_dir = tmp_path / "run"
    assert main([str(run_dir) if a == "RUN_DIR" else a for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert expected in captured.err
    assert not run_dir.exists()  # nothing was created for a command that was refused


def test_console_entry_point_exits_2_without_traceback():
    for argv in (["frobnicate"], ["reward", "score", "--bogus"], ["sandbox", "run"]):
        done = subprocess.run(
            [sys.executable, "-m", "align", *argv], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
        )
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize(
    ("kind", "verifier", "column"),
    [("pairs", "math", "answer"), ("pairs", "code", "tests"), ("grpo", "math", "answer")],
)
def test_validate_rejects_prompts_without_the_verifiers_column(
    kind: str, verifier: str, column: str, tmp_path: Path, chat_file: Path, capsys
):
    prompts = tmp_path / "prompts.jsonl"
    rows = [{"prompt": "1+1?", column: "2"}, {"prompt": "2+2?"}]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stage = {"name": "late", "kind": kind, "init": "sft", "prompts": str(prompts), "verifier": verifier}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"stages": [{"name": "sft", "kind": "sft", "data": str(chat_file)}, stage]}))
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{prompts}: row 2: no '{column}' column" in err and f"{verifier} verifier of stages.late" in err
    rows[1][column] = "4"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["validate", str(recipe)]) == 0


@pytest.mark.parametrize("kind", ["pairs", "grpo"])
def test_validate_refuses_a_constraint_that_cannot_be_checked_offline(
    kind: str, tmp_path: Path, chat_file: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "no-nltk-data")])
    prompts = tmp_path / "prompts.jsonl"
    checkable = {"prompt": "Say hi.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    sentences = {**checkable, "instruction_id_list": ["length_constraints:number_sentences"]}
    prompts.write_text(json.dumps(checkable) + "\n" + json.dumps(sentences) + "\n")
    stage = {"name": "late", "kind": kind, "init": "sft", "prompts": str(prompts), "verifier": "ifeval"}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"stages": [{"name": "sft", "kind": "sft", "data": str(chat_file)}, stage]}))
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert f"{prompts}: row 2: constraint 'length_constraints:number_sentences' needs NLTK data" in err
    assert "ifeval verifier of stages.late" in err
    prompts.write_text(json.dumps(checkable) + "\n")
    assert main(["validate", str(recipe)]) == 0
