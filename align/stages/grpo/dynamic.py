"""Online filtering for GRPO: DAPO's dynamic sampling (Yu et al. 2025, arXiv 2503.14476, §3.2).

A group whose completions all score the same has zero advantage everywhere: it costs a forward and backward pass
and teaches nothing. The up-front variance ordering (selection.py) drops such prompts once, for the starting
policy; as the policy improves, prompts it now always solves (or always fails) turn flat again. Here, at every
generation, flat groups are dropped and replaced by fresh prompts drawn from the prompt pool, for up to
`max_rounds` resampling rounds; groups still flat after that are kept (zero advantage: they add no gradient).
Per step the log gets `dynamic_sampling/flat_groups` (flat groups the step's generation produced),
`dynamic_sampling/replaced_groups` (of those, replaced by a group with variance) and
`dynamic_sampling/resampled_groups` (groups generated for the replacements, flat ones included).

"Flat" is read off TRL's own advantages: a group is flat exactly when every advantage in it is zero, whatever
the aggregation. Single process only: under data parallelism a group's advantages are normalised across ranks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from align.stages.trl_private import log_metric, with_generation_hook

T = TypeVar("T")

# Tensors TRL left-pads (prompts); every other [rows, tokens] tensor is right-padded.
LEFT_PADDED = ("prompt_ids", "prompt_mask")


def flat_groups(advantages: Any, size: int) -> list[int]:
    """Indices of groups (consecutive runs of `size` rows) whose advantages are all zero."""
    # A group whose completions all scored the same has zero advantage everywhere: it contributes no gradient
    # (DAPO's observation), only the KL term, so its batch slots are better spent on a prompt that does.
    grouped = advantages.reshape(-1, size)
    return [g for g in range(grouped.shape[0]) if bool((grouped[g] == 0).all())]


def prompt_pool(rows: Sequence[dict[str, Any]], seed: int) -> Iterator[dict[str, Any]]:
    """Rows in a seeded random order, reshuffled at the end of every pass: replacements never run dry."""
    # Seeded and reshuffled per pass, not drawn with replacement: every prompt is offered once before any twice,
    # and a rerun of the same recipe draws the same replacements.
    rng = random.Random(seed)
    order = list(range(len(rows)))
    while True:
        rng.shuffle(order)
        yield from (rows[i] for i in order)


def _pad_to(tensor: Any, width: int, left: bool) -> Any:
    from torch.nn import functional

    missing = width - tensor.shape[1]
    return functional.pad(tensor, (missing, 0) if left else (0, missing)) if missing else tensor


def splice(batch: dict[str, Any], fresh: dict[str, Any], slots: Sequence[int], size: int) -> dict[str, Any]:
    """`batch` with its groups at `slots` replaced by `fresh`'s groups, in order; padding widths reconciled."""
    import torch

    n = batch["advantages"].shape[0]
    order = list(range(n))
    for j, g in enumerate(slots):
        order[g * size : (g + 1) * size] = range(n + j * size, n + (j + 1) * size)
    index = torch.tensor(order, device=batch["advantages"].device)
    out: dict[str, Any] = {}
    for key, value in batch.items():
        other = fresh.get(key)
        if key == "num_items_in_batch" or not isinstance(value, torch.Tensor) or other is None:
            continue
        if value.dim() >= 2:
            width = max(value.shape[1], other.shape[1])
            value, other = _pad_to(value, width, key in LEFT_PADDED), _pad_to(other, width, key in LEFT_PADDED)
        out[key] = torch.cat([value, other]).index_select(0, index)
    # The loss normaliser of the DAPO/BNPO losses: the completion tokens actually in the batch now.
    out["num_items_in_batch"] = out["completion_mask"].sum()
    return out


class DynamicSampling:
    """The per-stage state: the prompt pool, the group size and the rounds allowed per generation."""

    def __init__(self, rows: Sequence[dict[str, Any]], group_size: int, max_rounds: int, seed: int) -> None:
        self.pool = prompt_pool(rows, seed)
        self.size = group_size
        self.max_rounds = max_rounds

    def fill(self, batch: dict[str, Any], generate) -> tuple[dict[str, Any], dict[str, int]]:
        """Replace flat groups with fresh ones; `generate(inputs)` is TRL's generate-and-score."""
        flat = flat_groups(batch["advantages"], self.size)
        counts = {"flat_groups": len(flat), "replaced_groups": 0, "resampled_groups": 0}
        # Bounded rounds: on a prompt set that is mostly solved (or mostly hopeless) refilling could go on forever;
        # what is still flat after max_rounds trains as it is and shows in the counts.
        for _ in range(self.max_rounds):
            if not flat:
                break
            # One fresh prompt per flat group, repeated `size` times in a row: the layout TRL's grouping expects.
            inputs = [row for _ in flat for row in [next(self.pool)] * self.size]
            fresh = generate(inputs)
            counts["resampled_groups"] += len(flat)
            still_flat = set(flat_groups(fresh["advantages"], self.size))
            good = [j for j in range(len(flat)) if j not in still_flat]
            if good:
                rows = [r for j in good for r in range(j * self.size, (j + 1) * self.size)]
                batch = splice(batch, {k: _rows(v, rows) for k, v in fresh.items()}, flat[: len(good)], self.size)
                counts["replaced_groups"] += len(good)
            # Filled slots are the first len(good) flat ones; the rest wait for the next round.
            flat = flat[len(good) :]
        return batch, counts


def _rows(value: Any, rows: list[int]) -> Any:
    import torch

    if isinstance(value, torch.Tensor) and value.dim() >= 1 and value.shape[0] > max(rows):
        return value.index_select(0, torch.tensor(rows, device=value.device))
    return value


def with_dynamic_sampling(trainer_class: type[T], sampling: DynamicSampling) -> type[T]:
    """A subclass of TRL's GRPOTrainer whose training generations go through `sampling.fill`."""

    def fill(trainer, inputs, generate):
        batch = generate(inputs)
        if not trainer.model.training:
            return batch
        batch, counts = sampling.fill(batch, generate)
        for key, value in counts.items():
            log_metric(trainer, f"dynamic_sampling/{key}", float(value))
        return batch

    return with_generation_hook(trainer_class, fill)
