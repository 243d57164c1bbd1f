"""Rows a trainer will cut to `max_length`: counted before training, an error under `strict: true`.

TRL's SFT and DPO trainers truncate a row longer than `max_length` without a word; a cut completion trains the
model on an answer that stops mid-sentence (SFT) or compares a pair on its first tokens only (DPO). Each stage
counts them here, names the first one, logs the count, and records it in the manifest (`truncated_rows`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from align.runtime.errors import AlignError

log = logging.getLogger(__name__)


def too_long(dataset: Any, tokenizer: Any, max_length: int, completions: Sequence[str] = ("completion",)) -> list[int]:
    """Indices of rows where the prompt followed by any of the `completions` columns (chat messages) is longer
    than max_length tokens under the chat template."""

    def length(batch: dict[str, list]) -> dict[str, list[int]]:
        longest = []
        for i, prompt in enumerate(batch["prompt"]):
            ids = [
                tokenizer.apply_chat_template(prompt + batch[c][i], tokenize=True, return_dict=False)
                for c in completions
            ]
            longest.append(max(len(x) for x in ids))
        return {"n_tokens": longest}

    lengths = dataset.map(length, batched=True, remove_columns=dataset.column_names)["n_tokens"]
    return [i for i, n in enumerate(lengths) if n > max_length]


def check_cuts(long_rows: list[int], total: int, max_length: int, strict: bool, where: Callable[[int], str]) -> int:
    """The number of rows to be cut; with `strict`, an error naming the first (`where(index)`) instead."""
    if long_rows and strict:
        raise AlignError(
            f"{where(long_rows[0])}: longer than max_length={max_length} tokens ({len(long_rows)} such rows; "
            "strict: true on the data spec makes this an error instead of cutting them)"
        )
    if long_rows:
        log.warning("%d of %d rows are longer than max_length=%d and will be cut", len(long_rows), total, max_length)
    return len(long_rows)
