"""Train the six-head reward model on labelled preference pairs (and optional ratings), then save it.

A plain torch loop: one optimiser, linear warm-up and decay, one forward pass per batch over every text in
it (both sides of each pair plus the rated responses).
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

from reward.dimensions import DIMENSIONS
from reward.model.artifact import Pooling, RewardConfig
from reward.model.encode import encode, prepare_tokenizer, too_long
from reward.model.heads import RewardHeads, default_pooling
from reward.model.likelihood import LikelihoodScorer, calibrate
from reward.model.loss import bradley_terry_loss, ratings_loss
from reward.model.resume import Checkpointing, LoopState, finite
from reward.model.rows import Pair, Rated, Rows, parse_rows
from reward.model.score import RewardModel

WARMUP_FRACTION = 0.1
MAX_GRAD_NORM = 1.0


def _batch_loss(model: RewardModel, batch: Sequence[Pair | Rated]) -> torch.Tensor:
    pairs = [r for r in batch if isinstance(r, Pair)]
    rated = [r for r in batch if isinstance(r, Rated)]
    prompts = [p.prompt for p in pairs] * 2 + [r.prompt for r in rated]
    texts = [p.chosen for p in pairs] + [p.rejected for p in pairs] + [r.completion for r in rated]
    inputs = encode(model.tokenizer, prompts, texts, model.config.max_length, model.config.pooling)
    scores = model.network(**inputs.to(model.network.heads.weight.device))
    loss = scores.sum() * 0.0
    if pairs:
        dims = torch.tensor([p.dimension for p in pairs], device=scores.device)
        loss = loss + bradley_terry_loss(scores[: len(pairs)], scores[len(pairs) : 2 * len(pairs)], dims)
    if rated:
        heads = len(model.dimensions)
        targets = torch.zeros(len(rated), heads, device=scores.device)
        mask = torch.zeros(len(rated), heads, dtype=torch.bool, device=scores.device)
        for i, row in enumerate(rated):
            for d, value in row.ratings.items():
                targets[i, d], mask[i, d] = value, True
        loss = loss + ratings_loss(scores[2 * len(pairs) :], targets, mask)
    return loss


def _length(row: Pair | Rated) -> int:
    return len(row.prompt) + (len(row.chosen) + len(row.rejected) if isinstance(row, Pair) else len(row.completion))


def _epoch_batches(rows: Sequence[Pair | Rated], batch_size: int, rng: random.Random) -> list[list[Pair | Rated]]:
    """Shuffled batches of similar-length rows: a batch pads to its longest text, so mixing a 20-token
    answer with a 120-token one wastes most of a CPU step. Rows are shuffled, sorted by length within
    windows of 16 batches, cut into batches, and the batches shuffled again."""
    order = list(rows)
    rng.shuffle(order)
    window = 16 * batch_size
    windows = [sorted(order[start : start + window], key=_length) for start in range(0, len(order), window)]
    order = [row for rows_in_window in windows for row in rows_in_window]
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def evaluate(model: RewardModel, rows: Sequence[Pair | Rated], batch_size: int) -> dict[str, float]:
    """Held-out pairwise accuracy per dimension (a tie counts as wrong) and the mean Bradley–Terry loss."""
    pairs = [r for r in rows if isinstance(r, Pair)]
    if not pairs:
        return {}
    # The same good answer is the chosen side of many pairs: score each distinct text once.
    texts = list(dict.fromkeys((p.prompt, t) for p in pairs for t in (p.chosen, p.rejected)))
    row = {text: i for i, text in enumerate(texts)}
    scores = model.score_tensor([t[0] for t in texts], [t[1] for t in texts], batch_size, dimensions=())
    columns = model.likelihood_columns
    for spec in model.config.lm_scorers:
        # Each LM scorer reads only the texts of pairs labelled with its dimensions, a fraction of the held-out set:
        # the truthfulness pairs never pay for the PMI's unprompted pass.
        mine = [model.dimensions.index(name) for name in spec.dimensions]
        sides = [(p.prompt, text) for p in pairs if p.dimension in mine for text in (p.chosen, p.rejected)]
        need = list(dict.fromkeys(row[side] for side in sides))
        if need:
            prompts, completions = [texts[i][0] for i in need], [texts[i][1] for i in need]
            values = model.likelihood_scores(prompts, completions, batch_size, spec.dimensions)
            at = [columns.index(c) for c in mine]
            scores[torch.tensor(need)[:, None], torch.tensor(mine)] = values[:, at]
    chosen = scores[[row[(p.prompt, p.chosen)] for p in pairs]]
    rejected = scores[[row[(p.prompt, p.rejected)] for p in pairs]]
    dims = torch.tensor([p.dimension for p in pairs])
    margin = (chosen - rejected).gather(1, dims.unsqueeze(1)).squeeze(1)
    metrics: dict[str, float] = {"eval/loss": bradley_terry_loss(chosen, rejected, dims).item()}
    accuracies = []
    for d, name in enumerate(model.dimensions):
        selected = dims == d
        if selected.any():
            accuracies.append((margin[selected] > 0).float().mean().item())
            metrics[f"accuracy/{name}"] = accuracies[-1]
            metrics[f"eval_pairs/{name}"] = float(selected.sum().item())
    metrics["accuracy/mean"] = sum(accuracies) / len(accuracies)
    return metrics


# evaluate()'s keys → the probe's, so held-out and probe accuracy sit side by side in one metrics dict.
PROBE_KEYS = {"accuracy/": "probe_accuracy/", "eval_pairs/": "probe_pairs/", "eval/loss": "probe_loss"}


def probe_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """`evaluate` on the probe pairs, renamed: `accuracy/truthfulness` → `probe_accuracy/truthfulness`, ..."""
    renamed = {}
    for key, value in metrics.items():
        old = next(prefix for prefix in PROBE_KEYS if key.startswith(prefix))
        renamed[PROBE_KEYS[old] + key[len(old) :]] = value
    return renamed


def train_reward_model(
    backbone: str | Path,
    train_rows: Rows,
    eval_rows: Rows,
    *,
    output_dir: str | Path,
    learning_rate: float,
    epochs: float,
    batch_size: int,
    max_length: int,
    seed: int,
    max_steps: int | None = None,
    progress: bool = True,
    log_dir: str | Path | None = None,
    dimensions: Sequence[str] = DIMENSIONS,
    pooling: Pooling | None = None,
    likelihood_model: str | None = None,
    likelihood_dimensions: Sequence[str] = (),
    pmi_dimensions: Sequence[str] = (),
    device: str = "cpu",
    checkpointing: Checkpointing | None = None,
    probe_rows: Rows = (),
    strict: bool = False,
) -> dict[str, float]:
    """Fine-tune `backbone` with one score head per dimension, save it to `output_dir`, return metrics.

    Rows are dicts or JSONL paths (see `reward.model.rows`). `epochs` may be fractional; `max_steps`, if
    given, caps the optimiser steps. `pooling` defaults to mean for encoders, last token for decoders.
    With `likelihood_model`, the `likelihood_dimensions` are scored by that causal LM's belief in the response
    (reward.model.likelihood), calibrated on their training pairs, instead of by their heads, and the
    `pmi_dimensions` by how much the prompt raises that belief (pointwise mutual information).
    The backbone trains in fp32 on `device` (every weight is trained: bf16 weights would lose AdamW's small
    updates); the likelihood LM goes to the same device.
    Metrics: `accuracy/<dimension>` (held-out pairwise accuracy, for dimensions with eval pairs),
    `accuracy/mean`, `eval/loss`, `eval_pairs/<dimension>`, `train/loss` (mean over the last 10% of
    steps), `train/steps`, `train/seconds`, `train/examples`, and `likelihood/*` and `pmi/*` when used.
    `probe_rows` are pairs written unlike the training data (data/reward/probe.jsonl): scored the same way as the
    held-out pairs, under `probe_accuracy/<dimension>`, `probe_accuracy/mean`, `probe_loss`, `probe_pairs/<d>`.
    With `checkpointing`, the loop saves its state every `save_steps` steps and resumes from a saved state.
    Training examples longer than `max_length` are cut, and counted in `train/truncated_rows`; `strict` makes
    them an error instead.
    """
    train = parse_rows(train_rows, dimensions, "train_rows")
    held_out = parse_rows(eval_rows, dimensions, "eval_rows")
    probe = parse_rows(probe_rows, dimensions, "probe_rows")
    if not train:
        raise ValueError("train_rows is empty")
    for label, names in (("likelihood", likelihood_dimensions), ("pmi", pmi_dimensions)):
        unknown = [name for name in names if name not in dimensions]
        if likelihood_model and unknown:
            raise ValueError(f"{label}: unknown dimension {unknown[0]!r}; known: {', '.join(dimensions)}")
    if both := set(likelihood_dimensions) & set(pmi_dimensions):
        raise ValueError(f"pmi: {sorted(both)[0]!r} is scored by likelihood already; give it one of the two")
    torch.manual_seed(seed)  # before the heads are built: their initialisation is part of the run
    model = build_model(backbone, dimensions, pooling, max_length, device)
    cut = _cut_examples(model, train)
    if cut and strict:
        raise ValueError(
            f"train_rows: {len(cut)} of {len(train)} examples are longer than max_length={max_length} tokens (first: "
            f"prompt {train[cut[0]].prompt[:60]!r}); strict: true on the data spec makes this an error instead of "
            "cutting them"
        )
    writer = _summary_writer(log_dir)
    steps = _total_steps(len(train), epochs, batch_size, max_steps)
    keep = checkpointing or Checkpointing()
    metrics = _optimise(model, train, steps, learning_rate, batch_size, random.Random(seed), writer, progress, keep)
    metrics["train/truncated_rows"] = float(len(cut))
    if likelihood_model and (likelihood_dimensions or pmi_dimensions):
        metrics |= _attach_likelihood(
            model, str(likelihood_model), train, likelihood_dimensions, pmi_dimensions, max_length, seed
        )
    metrics |= evaluate(model, held_out, batch_size=max(batch_size, 32))
    metrics |= probe_metrics(evaluate(model, probe, batch_size=max(batch_size, 32)))
    model.save(output_dir)
    if writer is not None:
        for key, value in metrics.items():
            writer.add_scalar(key, value, steps)
        writer.close()
    return metrics


def build_model(
    backbone: str | Path, dimensions: Sequence[str], pooling: Pooling | None, max_length: int, device: str = "cpu"
) -> RewardModel:
    """A fresh reward model: the backbone with one (random) score head per dimension, in training mode."""
    backbone_model = AutoModel.from_pretrained(backbone, dtype=torch.float32)
    pooling = pooling or default_pooling(backbone_model.config)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(backbone), pooling)
    config = RewardConfig(tuple(dimensions), pooling, max_length, str(backbone))
    network = RewardHeads(backbone_model, len(dimensions), pooling)
    torch.nn.Module.to(network, device)  # in place; the bound `.to` is typed for strings only
    model = RewardModel(network, tokenizer, config)
    model.network.train()
    return model


def _cut_examples(model: RewardModel, train: Sequence[Pair | Rated]) -> list[int]:
    """Indices of the training examples (a pair: either of its responses) that encoding cuts to max_length."""
    prompts = [r.prompt for r in train]
    cut: set[int] = set()
    for texts in (
        [r.chosen if isinstance(r, Pair) else r.completion for r in train],
        [r.rejected if isinstance(r, Pair) else r.completion for r in train],
    ):
        cut |= set(too_long(model.tokenizer, prompts, texts, model.config.max_length, model.config.pooling))
    return sorted(cut)


def _total_steps(rows: int, epochs: float, batch_size: int, max_steps: int | None) -> int:
    total = max(1, math.ceil(epochs * math.ceil(rows / batch_size)))
    return min(total, max_steps) if max_steps is not None else total


def _optimise(
    model: RewardModel,
    train: Sequence[Pair | Rated],
    total_steps: int,
    learning_rate: float,
    batch_size: int,
    rng: random.Random,
    writer: Any,
    progress: bool,
    keep: Checkpointing,
) -> dict[str, float]:
    """The training loop (AdamW, linear warm-up and decay, clipped gradients); returns the train/* metrics."""
    optimizer = torch.optim.AdamW(model.network.parameters(), lr=learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, int(WARMUP_FRACTION * total_steps), total_steps)
    state = LoopState(model.network, optimizer, schedule, rng, train, keep)
    state.restore()
    first_step = state.step + 1  # after a resumed state: the manifest's proof the re-run continued
    started = time.perf_counter()
    for step in tqdm(range(state.step, total_steps), desc="reward model", disable=not progress):
        if not state.batches:
            state.batches = _epoch_batches(train, batch_size, rng)
        batch = state.batches.pop()
        loss = _batch_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.network.parameters(), MAX_GRAD_NORM)
        if not finite(loss, model.network.parameters()):
            state.nonfinite(step, batch)
            continue
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        state.losses.append(loss.item())
        if writer is not None:
            writer.add_scalar("train/loss", state.losses[-1], step + 1)
            writer.add_scalar("train/lr", schedule.get_last_lr()[0], step + 1)
        state.maybe_save(step + 1, total_steps)
    tail = state.losses[-max(1, len(state.losses) // 10) :] or [math.nan]
    return {
        "train/loss": sum(tail) / len(tail),
        "train/steps": float(total_steps),
        "train/seconds": time.perf_counter() - started,
        "train/examples": float(len(train)),
        "train/rated": float(sum(isinstance(r, Rated) for r in train)),  # regression rows beside the pairs
        "train/nonfinite_steps_skipped": float(keep.skipped),
        "train/first_step": float(first_step),
    }


def _attach_likelihood(
    model: RewardModel,
    location: str,
    train: Sequence[Pair | Rated],
    names: Sequence[str],
    pmi_names: Sequence[str],
    max_length: int,
    seed: int,
) -> dict[str, float]:
    """Score `names` by the causal LM's belief in the response and `pmi_names` by its PMI with the prompt, each
    calibrated on their training pairs."""
    device = model.network.heads.weight.device
    model.likelihood = LikelihoodScorer.load(location, max_length, device)
    pairs = [r for r in train if isinstance(r, Pair)]
    metrics: dict[str, float] = {}
    dims = model.config.dimensions
    if names:
        spec, calibration = calibrate(model.likelihood, location, pairs, names, dims, seed)
        model.config, metrics = dataclasses.replace(model.config, likelihood=spec), metrics | calibration
    if pmi_names:
        spec, calibration = calibrate(model.likelihood, location, pairs, pmi_names, dims, seed, pmi=True)
        model.config, metrics = dataclasses.replace(model.config, pmi=spec), metrics | calibration
    return metrics


def _summary_writer(log_dir: str | Path | None) -> Any:
    if log_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))
