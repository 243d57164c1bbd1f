"""DPO with the chosen answers' NLL added (RPO, `loss_type: [sigmoid, sft]`): the weights reach TRL's loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.cli import main
from align.config.load import load_recipe
from align.runner import run_recipe


def recipe(tmp_path: Path, tiny_model: str, chat_file: Path, dpo_variants: dict[str, dict]) -> Path:
    prefs = tmp_path / "prefs.jsonl"
    rows = [{"prompt": f"What is {a} + {a}?", "chosen": f"{2 * a}.", "rejected": f"{2 * a + 1}."} for a in range(4)]
    prefs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train = {"max_steps": 1, "batch_size": 4, "max_length": 64, "report_to": [], "logging_steps": 1}
    stages = [{"name": "sft", "kind": "sft", "data": str(chat_file), **train}] + [
        {"name": name, "kind": "dpo", "init": "sft", "pairs": str(prefs), **train, **extra}
        for name, extra in dpo_variants.items()
    ]
    path = tmp_path / "rpo.yaml"
    path.write_text(yaml.safe_dump({"model": tiny_model, "lora": {"r": 4, "alpha": 8}, "stages": stages}))
    return path


def test_nll_term_is_added_with_its_weight(tmp_path: Path, tiny_model: str, chat_file: Path):
    variants = {
        "plain": {},
        "zero_nll": {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.0]},
        "nll": {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5]},
    }
    outcomes = run_recipe(load_recipe(recipe(tmp_path, tiny_model, chat_file, variants)), tmp_path / "run")
    first = {o.name: o.metrics["loss_first"] for o in outcomes if o.name in variants}
    # Every variant's first step sees the same weights and batch: the losses differ only by the NLL term.
    assert first["zero_nll"] == pytest.approx(first["plain"], abs=1e-5)
    # A random tiny model's per-token NLL is near ln(vocabulary), far above 1: half of it must show.
    assert first["nll"] - first["plain"] > 1.0


def test_one_weight_per_loss_is_required(tmp_path: Path, tiny_model: str, chat_file: Path, capsys):
    bad = {"dpo": {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0]}}
    assert main(["validate", str(recipe(tmp_path, tiny_model, chat_file, bad))]) == 2
    assert "stages.dpo: loss_weights: 1 weights for 2 losses in loss_type" in capsys.readouterr().err
