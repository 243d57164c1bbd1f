"""A verifier that raises on some samples costs only those samples; one that raises on all stops the stage
with one line. The verifier is a real registered one (the math verifier, wrapped to raise on some answers),
run inside a real pairs stage on the tiny digit model, which answers "1" or "2" (about even odds)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from align.config.load import load_recipe
from align.runner import run_recipe
from align.runtime.errors import AlignError
from reward import VERIFIERS, Verdict, Verifier
from reward.verifiers.math import verify_math_rows


def math_but_raises_on_wrong_twos(completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    """Raises where a "2" answers a prompt whose answer is 1: on those prompts only passes can be judged."""
    if any("2" in text and row["answer"] == "1" for text, row in zip(completions, rows, strict=True)):
        raise ValueError("cannot read a 2")
    return verify_math_rows(completions, rows)


def always_raises(completions: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Verdict]:
    raise RuntimeError("verifier service down")


def register(monkeypatch: pytest.MonkeyPatch, function: str) -> None:
    monkeypatch.setitem(VERIFIERS, "math", Verifier("math", ("answer",), f"{__name__}:{function}"))


@pytest.fixture
def recipe(tmp_path: Path, digit_model: str, chat_file: Path, sft_pairs_stages) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    rows = [{"prompt": f"Say a digit ({i}).", "answer": str(1 + i % 2)} for i in range(6)]
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    path = tmp_path / "recipe.yaml"
    stages = sft_pairs_stages(
        chat_file,
        prompts,
        sft={"max_steps": 1, "batch_size": 2, "max_length": 64},
        pairs={"k": 6, "max_new_tokens": 8, "batch_prompts": 3},
    )
    lora = {"r": 4, "alpha": 8}
    path.write_text(yaml.safe_dump({"name": "flaky", "model": digit_model, "lora": lora, "stages": stages}))
    return path


def test_samples_the_verifier_raised_on_are_counted_and_never_paired(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    register(monkeypatch, "math_but_raises_on_wrong_twos")
    run_recipe(load_recipe(recipe), tmp_path / "run")
    pairs_dir = tmp_path / "run" / "pairs"
    metrics = json.loads((pairs_dir / "manifest.json").read_text())["metrics"]
    stats = json.loads((pairs_dir / "stats.json").read_text())
    assert 0 < metrics["verifier_failures"] < metrics["samples"]
    assert stats["verifier_failures"] == metrics["verifier_failures"]
    # A failed sample is undecided: counted there and left out of the pass rate, never a side of a pair.
    assert stats["undecided_samples"] == metrics["verifier_failures"]
    rows = [json.loads(line) for line in (pairs_dir / "pairs.jsonl").read_text().splitlines()]
    assert rows, "the prompts whose samples the verifier could judge still gave pairs"
    for row in rows:
        # Prompts answered 1 only had passes and undecided samples: pairing them would mean an undecided "2"
        # became a rejected answer.
        assert row["prompt"][0]["content"] in {f"Say a digit ({i})." for i in (1, 3, 5)}, row
        assert "2" in row["chosen"][0]["content"] and "1" in row["rejected"][0]["content"]


def test_a_verifier_that_raises_on_every_sample_stops_with_one_line(
    recipe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    register(monkeypatch, "always_raises")
    with pytest.raises(AlignError) as raised:
        run_recipe(load_recipe(recipe), tmp_path / "run")
    message = str(raised.value)
    assert "\n" not in message
    assert "stages.pairs: verifier 'math' failed on all 36 samples" in message
    assert "(first: verifier math raised RuntimeError: verifier service down)" in message
    assert f"delete {tmp_path / 'run' / 'pairs'} to judge the samples again" in message
    assert not (tmp_path / "run" / "pairs" / "COMPLETE").exists()
