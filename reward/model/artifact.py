"""The saved reward model's folder layout, which is all a later stage needs to score without retraining.

<dir>/config.json, model.safetensors   the fine-tuned backbone (`save_pretrained`)
<dir>/tokenizer.json, tokenizer_config.json, ...
<dir>/heads.safetensors                {"weight": (heads, hidden), "bias": (heads,)}
<dir>/reward_config.json               RewardConfig below; its `likelihood` and `pmi` name the causal LM (if any)
                                       that scores some dimensions instead of their head (reward.model.likelihood)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

# How a text's hidden states become one vector: mean over tokens (encoders) or the last token (decoders).
Pooling = Literal["mean", "last"]
Reduction = Literal["mean", "sum"]

CONFIG_FILE = "reward_config.json"
HEADS_FILE = "heads.safetensors"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LikelihoodConfig:
    """A causal LM that scores `dimensions` as scale * (value - offset), the value being the response's mean
    token log-prob (RewardConfig.likelihood) or its pointwise mutual information with the prompt (.pmi)."""

    model: str  # folder or hub name, like a PEFT adapter's base_model_name_or_path
    dimensions: tuple[str, ...]
    scale: float = 1.0
    offset: float = 0.0
    # How the per-token values combine: the log-prob is a mean, PMI a sum; a PMI artifact without this key was
    # written when PMI was a mean, and still scores that way.
    reduction: Reduction = "mean"


class NotARewardModelError(ValueError):
    """The folder is missing, or lacks the files a saved reward model has."""


@dataclass(frozen=True)
class RewardConfig:
    dimensions: tuple[str, ...]  # head i scores dimensions[i]
    pooling: Pooling
    max_length: int  # tokens per (prompt, response) input; longer inputs are truncated
    backbone: str  # what training started from, for provenance only
    likelihood: LikelihoodConfig | None = None
    pmi: LikelihoodConfig | None = None  # absent from artifacts written before PMI: read as None
    format_version: int = FORMAT_VERSION

    @property
    def lm_scorers(self) -> list[LikelihoodConfig]:
        """The LM-scored configs present: log-prob first, then PMI (the order of their score columns)."""
        return [spec for spec in (self.likelihood, self.pmi) if spec is not None]

    def write(self, directory: Path) -> None:
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, directory: Path) -> RewardConfig:
        path = directory / CONFIG_FILE
        if not directory.is_dir():
            raise NotARewardModelError(f"{directory}: no such folder")
        if not path.is_file() or not (directory / HEADS_FILE).is_file():
            raise NotARewardModelError(f"{directory}: not a reward model (no {CONFIG_FILE} or {HEADS_FILE})")
        try:
            raw = json.loads(path.read_text())
            scorers = {key: _scorer(raw.get(key)) for key in ("likelihood", "pmi")}
            config = cls(**{**raw, "dimensions": tuple(raw["dimensions"]), **scorers})
        except (ValueError, TypeError, KeyError) as err:
            raise NotARewardModelError(f"{path}: unreadable reward config ({err})") from err
        if config.format_version != FORMAT_VERSION:
            found, expected = config.format_version, FORMAT_VERSION
            raise NotARewardModelError(f"{path}: format_version {found}, this code reads {expected}")
        return config


def _scorer(raw: dict | None) -> LikelihoodConfig | None:
    return None if raw is None else LikelihoodConfig(**{**raw, "dimensions": tuple(raw["dimensions"])})
