"""Temperature / top-k / top-p sampling that draws from `generate`'s distribution without sorting the vocabulary.

`generate`'s top-p warper sorts all ~50-150K logits of every row at every step; on a CPU that sort was a quarter
of pair building's time (SmolLM2-135M, 49,152 tokens). The nucleus is a prefix of the tokens in descending
probability, so when the CANDIDATES most probable tokens already hold at least `top_p` of the mass, every
token outside them is cut anyway: the nucleus is found among those candidates (one partial top-k) and the token
drawn among them. Rows whose mass is spread wider fall back to generate's own warpers for the batch.
Kept set and probabilities equal the warpers' (tests/unit/test_decode.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import TopKLogitsWarper, TopPLogitsWarper

# How many of the most probable tokens the fast path looks at. The trade: a larger k is a dearer partial top-k
# on every row at every step; a smaller one sends more batches (flat distributions, high temperatures) to the
# full-sort fallback. Either way the tokens are drawn from the same distribution.
CANDIDATES = 256


def draw(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row of `probs` [batch, n] (rows need not sum to 1), by inverting the cumulative sum at one
    uniform draw per row. Exact like `torch.multinomial`, which instead draws an exponential for every entry:
    with a full vocabulary on a CPU that RNG was ~30 % of a tiny model's decoding time."""
    cumulative = probs.cumsum(-1)
    u = torch.rand((probs.shape[0], 1), generator=generator, device=probs.device) * cumulative[:, -1:]
    # right=True: a zero-probability entry (cumulative equal to its left neighbour's) can never be picked.
    return torch.searchsorted(cumulative, u, right=True).clamp_(max=probs.shape[-1] - 1)


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = off
    top_p: float = 1.0

    def next_tokens(self, logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One token per row of fp32 `logits` [batch, vocab]."""
        if self.temperature <= 0:
            return logits.argmax(-1)
        probs, ids = self.candidates(logits)
        choice = draw(probs, generator)
        return ids.gather(1, choice).squeeze(1) if ids is not None else choice.squeeze(1)

    def candidates(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(probabilities [batch, k], their token ids [batch, k]), or (full-vocabulary probabilities, None)."""
        if self.temperature != 1.0:
            logits = logits / self.temperature
        if self.top_p >= 1.0 and self.top_k <= 0:
            return logits.softmax(-1), None
        k = min(self.top_k if self.top_k > 0 else CANDIDATES, logits.shape[-1])
        values, ids = logits.topk(k)  # descending
        # generate's top-k keeps every token tied with the k-th: then the candidates are not its set.
        kth = values[:, -1:]
        tied = self.top_k > 0 and bool(((logits == kth).sum(-1) > (values == kth).sum(-1)).any())
        # Mass of each candidate within what top-k keeps (all of the vocabulary when top-k is off): generate
        # applies top-k before top-p, so top-p measures the mass among the k tokens left, renormalised.
        total = values.logsumexp(-1, keepdim=True) if self.top_k > 0 else logits.logsumexp(-1, keepdim=True)
        probs = (values - total).exp()
        if tied or (self.top_p < 1.0 and bool((probs.sum(-1) < self.top_p).any())):
            # Ties at the k-th logit, or a nucleus wider than the candidates. The whole batch falls back, not just
            # those rows: every row's result then has one shape, and the fallback is exact, only slower.
            return self._warped(logits), None
        if self.top_p < 1.0:
            # generate removes a token when the mass of it and every less probable one is <= 1 - top_p, i.e.
            # keeps it while the mass strictly above it is < top_p; the first token always stays.
            above = probs.cumsum(-1) - probs
            values = values.masked_fill(above >= self.top_p, -float("inf"))  # the first has above = 0: kept
        return values.softmax(-1), ids

    def _warped(self, logits: torch.Tensor) -> torch.Tensor:
        """generate's own warpers on the full vocabulary (temperature already applied)."""
        if self.top_k > 0:
            logits = TopKLogitsWarper(self.top_k)(None, logits)
        if self.top_p < 1.0:
            logits = TopPLogitsWarper(self.top_p)(None, logits)
        return logits.softmax(-1)
