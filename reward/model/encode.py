"""Turn (prompt, response) pairs into model inputs the same way for training and for scoring."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import BatchEncoding, PreTrainedTokenizerBase

from reward.model.artifact import Pooling


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, pooling: Pooling) -> PreTrainedTokenizerBase:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    # A decoder's score is read at the last token, so long inputs lose their start, never their end.
    tokenizer.truncation_side = "left" if pooling == "last" else "right"
    return tokenizer


def _texts(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], responses: Sequence[str]) -> list[str]:
    # Decoders: one text ending in EOS, so the pooled last token has read the whole response.
    eos = tokenizer.eos_token or ""
    return [f"{p}\n\n{r}{eos}" for p, r in zip(prompts, responses, strict=True)]


def too_long(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    responses: Sequence[str],
    max_length: int,
    pooling: Pooling,
) -> list[int]:
    """Indices of the rows `encode` cuts to max_length (the cut is silent there; callers count it)."""
    if pooling == "mean":
        ids = tokenizer(list(prompts), list(responses), truncation=False)["input_ids"]
    else:
        ids = tokenizer(_texts(tokenizer, prompts, responses), truncation=False)["input_ids"]
    return [i for i, row in enumerate(ids) if len(row) > max_length]


def encode(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    responses: Sequence[str],
    max_length: int,
    pooling: Pooling,
) -> BatchEncoding:
    if pooling == "mean":
        # Encoders were pre-trained on sentence pairs: [CLS] prompt [SEP] response [SEP], trimming the
        # longer side first when too long.
        return tokenizer(
            list(prompts),
            list(responses),
            truncation="longest_first",
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
    return tokenizer(
        _texts(tokenizer, prompts, responses),
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
        return_token_type_ids=False,
    )
