"""A trained six-head reward model: load it from its folder and score (prompt, completion) pairs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from reward.model.artifact import HEADS_FILE, RewardConfig
from reward.model.encode import encode, prepare_tokenizer
from reward.model.heads import RewardHeads
from reward.model.likelihood import LikelihoodScorer


class RewardModel:
    """The network, its tokenizer and its config, with batched scoring."""

    def __init__(
        self,
        network: RewardHeads,
        tokenizer: PreTrainedTokenizerBase,
        config: RewardConfig,
        likelihood: LikelihoodScorer | None = None,
    ) -> None:
        self.network = network
        self.tokenizer = prepare_tokenizer(tokenizer, config.pooling)
        self.config = config
        self.likelihood = likelihood

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.config.dimensions

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> RewardModel:
        """Load a folder written by `save` (raises `NotARewardModelError` for any other folder)."""
        path = Path(path)
        config = RewardConfig.read(path)
        backbone = AutoModel.from_pretrained(path, dtype=torch.float32)
        network = RewardHeads(backbone, len(config.dimensions), config.pooling)
        network.heads.load_state_dict(load_file(path / HEADS_FILE))
        likelihood = None
        if config.lm_scorers:  # both name the LM of the reward stage's likelihood_model: it is loaded once
            likelihood = LikelihoodScorer.load(config.lm_scorers[0].model, config.max_length, device)
        return cls(network.to(device).eval(), AutoTokenizer.from_pretrained(path), config, likelihood)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.network.backbone.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        heads = {k: v.detach().cpu().contiguous() for k, v in self.network.heads.state_dict().items()}
        save_file(heads, path / HEADS_FILE)
        self.config.write(path)

    @torch.no_grad()
    def score_tensor(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        batch_size: int = 16,
        dimensions: Collection[str] | None = None,
    ) -> torch.Tensor:
        """(rows, heads) scores; the LM-scored columns as `likelihood_scores` gives them for `dimensions`.
        Rows are batched by length, so little compute goes to padding."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        was_training = self.network.training
        self.network.eval()
        device = self.network.heads.weight.device
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(completions[i]))
        out = torch.empty(len(prompts), len(self.dimensions))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = encode(
                self.tokenizer,
                [prompts[i] for i in rows],
                [completions[i] for i in rows],
                self.config.max_length,
                self.config.pooling,
            ).to(device)
            out[rows] = self.network(**batch).float().cpu()
        self.network.train(was_training)
        if self.likelihood is not None and self.config.lm_scorers:
            out[:, self.likelihood_columns] = self.likelihood_scores(prompts, completions, batch_size, dimensions)
        return out

    @property
    def likelihood_columns(self) -> list[int]:
        """Columns of score_tensor that the LM fills instead of a head: the log-prob dimensions, then the PMI ones."""
        return [self.dimensions.index(name) for spec in self.config.lm_scorers for name in spec.dimensions]

    def likelihood_scores(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        batch_size: int,
        dimensions: Collection[str] | None = None,
    ) -> torch.Tensor:
        """(rows, len(likelihood_columns)) calibrated LM scores, scale * (value - offset), the value being the mean
        log-prob or the PMI. Only the scorers `dimensions` (default: all) names run — the prompted log-prob once for
        both, the unprompted pass for PMI alone; the other columns are NaN, never a head's stale score. The LM is
        a far bigger forward pass than the encoder, so a call asking for heads only never runs it."""
        likelihood = self.likelihood
        if likelihood is None or not self.config.lm_scorers:
            raise ValueError("this reward model scores no dimension by likelihood")
        wanted = [dimensions is None or not set(s.dimensions).isdisjoint(dimensions) for s in self.config.lm_scorers]
        missing = torch.full((len(prompts),), float("nan"))
        logprob = likelihood.mean_logprob(prompts, completions, batch_size) if any(wanted) else missing
        columns = []
        for spec, want in zip(self.config.lm_scorers, wanted, strict=True):
            value = logprob if want else missing
            if want and spec is self.config.pmi:
                value = likelihood.pointwise_mi(
                    prompts, completions, batch_size, prompted=logprob, reduction=spec.reduction
                )
            columns += [spec.scale * (value - spec.offset)] * len(spec.dimensions)
        return torch.stack(columns, dim=1)

    def score(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        batch_size: int = 16,
        dimensions: Collection[str] | None = None,
    ) -> list[dict[str, float]]:
        """One {dimension: score} dict per row (only `dimensions`, when given); unbounded logits, higher is better."""
        names = list(dimensions) if dimensions is not None else list(self.dimensions)
        scores = self.score_tensor(prompts, completions, batch_size, names)
        columns = [self.dimensions.index(name) for name in names]
        return [dict(zip(names, (row[c] for c in columns), strict=True)) for row in scores.tolist()]
