"""Prompt selection re-run during training (`prompt_selection.every`): the variance ordering follows the policy.

The up-front selection ranks prompts by the reward variance of the *starting* policy's groups. As the policy
improves, prompts it now always solves go flat and prompts it used to fail start to vary. Every N optimiser steps
the current policy (the training model itself, adapter and all, sampled with HF `generate`) answers the candidate
prompts again, they are re-ranked by variance, and the prompts not yet trained on in this pass are replaced by the
new ranking. Each re-run is appended to `prompt_reselection.jsonl` (step, kept, dropped, the new order).

TRL takes prompts from its `RepeatSampler` in a fixed order chosen when training starts; `LiveOrderSampler`
instead reads the order list at each chunk, so a re-ranking reaches every chunk not yet handed out. Two chunks
past the current one are left alone: the data loader may have fetched them already.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from transformers import TrainerCallback

from align.generation.hf import hf_generate
from align.stages.grpo.selection import select_by_variance
from align.stages.trl_private import RepeatSampler, with_train_sampler

log = logging.getLogger(__name__)
T = TypeVar("T")

ScoreGroups = Callable[[list[dict[str, Any]], list[list[str]]], list[list[float | None]]]


class LiveOrderSampler(RepeatSampler):
    """TRL's RepeatSampler (unshuffled) over `order`, a list that may change while training runs."""

    def __init__(self, order: list[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order = order
        self.cursor = 0  # position in `order` of the chunk last handed out

    def __iter__(self):
        for start in range(0, len(self.order) - self.batch_size + 1, self.batch_size):
            self.cursor = start
            for _ in range(self.repeat_count):
                for index in self.order[start : start + self.batch_size]:
                    yield from [index] * self.mini_repeat_count


def with_live_order(trainer_class: type[T], holder: dict[str, LiveOrderSampler]) -> type[T]:
    """A trainer subclass whose training sampler is a `LiveOrderSampler`, kept in `holder["sampler"]`."""

    def make(trainer, dataset):
        sampler = LiveOrderSampler(
            list(range(len(dataset))),
            data_source=dataset,
            mini_repeat_count=trainer.num_generations,
            batch_size=trainer.args.generation_batch_size // trainer.num_generations,
            repeat_count=trainer.num_iterations * trainer.args.steps_per_generation,
            shuffle=False,
        )
        holder["sampler"] = sampler
        return sampler

    return with_train_sampler(trainer_class, make)


def reranked(order: Sequence[int], ranking: Sequence[int], start: int) -> list[int]:
    """`order` with every position from `start` on refilled from `ranking`, cycling when it is shorter."""
    # Only the rows not yet trained on are reordered: steps already taken keep the order they were taken in.
    # Cycling covers a ranking shorter than what is left (one that dropped zero-variance prompts).
    if not ranking or start >= len(order):
        return list(order)
    fill = [ranking[i % len(ranking)] for i in range(len(order) - start)]
    return [*order[:start], *fill]


class Reselect(TrainerCallback):
    """Every `every` steps: sample the training rows with the current policy, re-rank, reorder what is left."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        score_groups: ScoreGroups,
        holder: dict[str, LiveOrderSampler],
        every: int,
        sampling: dict[str, Any],
        path: Path,
    ) -> None:
        self.rows, self.score_groups, self.holder, self.every = rows, score_groups, holder, every
        self.sampling, self.path = sampling, path

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        sampler = self.holder.get("sampler")
        if state.global_step % self.every or sampler is None or model is None:
            return
        groups = hf_generate(model, processing_class, [r["prompt"] for r in self.rows], **self.sampling)
        selection = select_by_variance(self.score_groups(self.rows, groups))
        start = sampler.cursor + 2 * sampler.batch_size
        sampler.order[:] = reranked(sampler.order, selection.order, start)
        stats = selection.stats()
        record = {"step": state.global_step, **stats, "order": selection.order, "from_position": start}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        log.info(
            "prompt re-selection at step %d: %d of %d prompts vary (%d zero-variance)",
            state.global_step,
            stats["kept"],
            stats["candidates"],
            stats["dropped_zero_variance"],
        )
