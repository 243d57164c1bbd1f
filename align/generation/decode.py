"""A sampling loop faster than `model.generate` for groups of completions: the one align's HF sampling runs.

Three things `generate` does not do, and each saves work that grows with the batch:
- prompts are sorted by length before batching, so a batch pads to a similar length;
- a prompt is prefilled once and its KV cache repeated for its `n` samples (pair building samples k=8, GRPO 8);
- a sequence that has emitted EOS leaves the batch (its cache rows are dropped), so a batch stops costing
  compute as its answers finish instead of decoding padding until the longest one ends.
Sampling draws from the distribution of `generate`'s temperature / top-k / top-p warpers on fp32 logits without
sorting the vocabulary (align.generation.nucleus); greedy decoding gives the same tokens as `generate`
(tests/unit/test_decode.py).

`static=True` trades the early exits for CUDA graphs: each batch goes through `generate` with a static KV cache,
which transformers compiles on a GPU; prompts are left-padded to a multiple of STATIC_BUCKET tokens so that a
run's batches share a few cache shapes instead of compiling once per prompt length.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from align.generation.attention import grouped_attention
from align.generation.kv_cache import reserve, reserved_cache
from align.generation.nucleus import Sampling

STATIC_BUCKET = 64


@torch.inference_mode()
def sample_ids(
    model,
    prompts: Sequence[Sequence[int]],
    *,
    n: int = 1,
    max_new_tokens: int,
    eos_token_ids: Sequence[int],
    pad_token_id: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    min_new_tokens: int = 0,
    batch_size: int = 32,
    seed: int = 0,
    progress: bool = False,
    static: bool = False,
) -> list[list[list[int]]]:
    """`n` completions (token ids, EOS included when emitted) for each prompt, in the prompts' order.

    `batch_size` counts sequences (prompts × n) decoded together; temperature 0 is greedy.
    """
    if temperature <= 0 and n > 1:  # greedy samples are all the same: decode one, copy it
        once = sample_ids(
            model,
            prompts,
            max_new_tokens=max_new_tokens,
            eos_token_ids=eos_token_ids,
            pad_token_id=pad_token_id,
            min_new_tokens=min_new_tokens,
            batch_size=batch_size,
            progress=progress,
        )
        return [[list(group[0]) for _ in range(n)] for group in once]
    device = next(model.parameters()).device
    # One generator per call, on the model's device: the samples depend on `seed` alone, not on what else drew
    # from torch's global RNG before (the static path, through `generate`, has no such generator).
    generator = torch.Generator(device=device).manual_seed(seed)
    eos = torch.tensor(list(eos_token_ids), device=device)
    sampling = Sampling(temperature, top_k, top_p)
    limits = _Limits(max_new_tokens, min_new_tokens, eos, pad_token_id)
    decode = _generate_static if static else partial(_decode_batch, generator=generator)
    out: list[list[list[int]]] = [[] for _ in prompts]
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(prompts) * n, desc="sampling", unit="seq", disable=not progress)
    # KV heads shared by their query heads, not copied per decoded token (align.generation.attention).
    with grouped_attention(model):
        try:
            # A batch holds batch_size sequences after each prompt's cache is repeated n times.
            for chunk in _length_sorted_batches(prompts, max(1, batch_size // n)):
                groups = decode(model, [prompts[i] for i in chunk], n=n, limits=limits, sampling=sampling)
                for index, group in zip(chunk, groups, strict=True):
                    out[index] = group
                bar.update(len(chunk) * n)
        finally:
            bar.close()
            model.train(was_training)
    return out


def _length_sorted_batches(prompts: Sequence[Sequence[int]], per_batch: int) -> Iterator[list[int]]:
    """Prompt indices, shortest first, `per_batch` at a time: neighbours pad to nearly the same length, so a batch
    wastes little compute on padding. The caller puts each group back at its prompt's index."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for start in range(0, len(order), per_batch):
        yield order[start : start + per_batch]


class _Limits(NamedTuple):
    """What every decoded batch shares, whichever path decodes it."""

    max_new_tokens: int
    min_new_tokens: int
    eos: torch.Tensor  # the stop token ids, on the model's device
    pad_token_id: int


def _left_padded(prompts, width: int, pad_token_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long, device=device)
    mask = torch.zeros((len(prompts), width), dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):  # left padding: every row's next token goes at the same column
        ids[row, width - len(prompt) :] = torch.tensor(list(prompt), device=device)
        mask[row, width - len(prompt) :] = 1
    return ids, mask


def _generate_static(model, prompts, *, n: int, limits: _Limits, sampling: Sampling):
    """One batch through `generate` with a static cache (the global torch RNG draws the samples)."""
    eos = limits.eos
    width = -(-max(len(p) for p in prompts) // STATIC_BUCKET) * STATIC_BUCKET
    ids, mask = _left_padded([p for p in prompts for _ in range(n)], width, limits.pad_token_id, eos.device)
    drawn = {
        "do_sample": True,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k or None,
    }
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=limits.max_new_tokens,
        min_new_tokens=limits.min_new_tokens,
        eos_token_id=eos.tolist(),
        pad_token_id=limits.pad_token_id,
        cache_implementation="static",
        **(drawn if sampling.temperature > 0 else {"do_sample": False, "top_k": None}),
    )[:, width:].tolist()
    # generate pads a finished row after its EOS; keep each answer up to and including its first EOS.
    stop = set(eos.tolist())
    rows = [row[: next((i + 1 for i, t in enumerate(row) if t in stop), len(row))] for row in out]
    return [rows[i * n : (i + 1) * n] for i in range(len(prompts))]


def _decode_batch(model, prompts, *, n: int, limits: _Limits, sampling: Sampling, generator: torch.Generator):
    max_new_tokens, min_new_tokens, eos, pad_token_id = limits
    device = eos.device
    ids, mask = _left_padded(prompts, max(len(p) for p in prompts), pad_token_id, device)
    # As generate does: positions count real tokens only, so a left-padded row starts at position 0.
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = reserved_cache(model.config, max_new_tokens)  # appends in place, not by concatenation
    # logits_to_keep=1: only the last position's logits are needed, and a prompt's full [length, vocab] logits
    # would be the largest tensor of the prefill.
    logits = _last_logits(model, ids, mask, positions, cache, logits_to_keep=1)
    if n > 1:
        # The prompt was prefilled once; its n samples share that cache, copied row-wise rather than recomputed.
        logits, mask = logits.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
        cache.batch_repeat_interleave(n)
    next_position = mask.sum(-1, keepdim=True)
    live = torch.arange(len(prompts) * n, device=device)  # which output row each batch row is
    steps: list[tuple[torch.Tensor, torch.Tensor]] = []
    for step in range(max_new_tokens):
        if step < min_new_tokens:
            logits[:, eos] = -float("inf")
        tokens = sampling.next_tokens(logits, generator)
        steps.append((live, tokens))
        if step == max_new_tokens - 1:
            break
        # EOS is masked out before min_new_tokens, so nothing can finish: skip the check and its device sync.
        finished = torch.isin(tokens, eos) if step >= min_new_tokens else None
        if finished is not None and bool(finished.any()):
            keep = (~finished).nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            cache.batch_select_indices(keep)
            reserve(cache, max_new_tokens - step - 1)  # a buffer rebuilt for the rows left needs no more room
            live, tokens, mask, next_position = live[keep], tokens[keep], mask[keep], next_position[keep]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        logits = _last_logits(model, tokens[:, None], mask, next_position, cache)
        next_position = next_position + 1
    return _grouped_rows(steps, len(prompts), n)


def _last_logits(model, ids, mask, positions, cache, **kwargs) -> torch.Tensor:
    """The next-token logits of every row, in fp32, as `generate` casts them before its warpers: bf16 rounding
    would merge near-equal logits and could move the top-k / top-p boundary away from `generate`'s."""
    out = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **kwargs
    )
    return out.logits[:, -1].float()


def _grouped_rows(steps: list[tuple[torch.Tensor, torch.Tensor]], prompts: int, n: int) -> list[list[list[int]]]:
    """Each output row's tokens, grouped n per prompt. Tokens are kept on the device step by step (with the rows
    still live at that step) and read back once here: a `.tolist()` per step would wait for the device each time."""
    rows: list[list[int]] = [[] for _ in range(prompts * n)]
    for live_rows, tokens in steps:
        for row, token in zip(live_rows.tolist(), tokens.tolist(), strict=True):
            rows[row].append(token)
    return [rows[i * n : (i + 1) * n] for i in range(prompts)]
