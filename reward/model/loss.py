"""Losses for the six-head reward model.

Each preference pair is labelled with the one dimension its two responses differ on, so only that head
learns from it: the other five heads get no gradient from the pair (their scores may legitimately tie).
"""

from __future__ import annotations

import torch
from torch.nn import functional


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor, dimension: torch.Tensor) -> torch.Tensor:
    """Mean of -log σ(r_chosen[d] - r_rejected[d]) with d each pair's dimension index.

    chosen, rejected: (pairs, heads) scores; dimension: (pairs,) long.
    """
    index = dimension.unsqueeze(1)
    margin = chosen.gather(1, index) - rejected.gather(1, index)
    return -functional.logsigmoid(margin).mean()


def ratings_loss(scores: torch.Tensor, ratings: torch.Tensor, rated: torch.Tensor) -> torch.Tensor:
    """MSE between σ(score) and a rating in [0, 1], over the (row, head) cells where `rated` is True.

    The sigmoid puts the head on the rating's scale without pinning its offset, which the Bradley–Terry
    loss leaves free anyway. Returns 0 (with a graph) when nothing is rated.
    """
    if not rated.any():
        return scores.sum() * 0.0
    return functional.mse_loss(torch.sigmoid(scores[rated]), ratings[rated])
