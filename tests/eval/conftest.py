"""Fixtures for evaluation and report tests: a few math problems with known answers, a tiny reward model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROBLEMS = [(2, 3), (4, 4), (7, 1), (6, 2)]


@pytest.fixture
def math_file(tmp_path: Path) -> Path:
    rows = [{"prompt": f"What is {a} + {b}? Answer with \\boxed{{N}}.", "answer": str(a + b)} for a, b in PROBLEMS]
    path = tmp_path / "math-eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def tiny_reward_model(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained six-head reward model on the tiny policy model: real scores, seconds to build."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from reward.dimensions import DIMENSIONS
    from reward.model import RewardConfig, RewardModel
    from reward.model.heads import RewardHeads

    torch.manual_seed(0)
    network = RewardHeads(AutoModel.from_pretrained(tiny_model), len(DIMENSIONS), "last")
    config = RewardConfig(DIMENSIONS, "last", 128, tiny_model)
    folder = tmp_path_factory.mktemp("reward-model")
    RewardModel(network, AutoTokenizer.from_pretrained(tiny_model), config).save(folder)
    return folder
