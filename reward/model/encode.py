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
    # Decoders: one text ending in EOS, so the pooled last token has read the whole response.
    eos = tokenizer.eos_token or ""
    texts = [f"{p}\n\n{r}{eos}" for p, r in zip(prompts, responses, strict=True)]
    return tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
        return_token_type_ids=False,
    )
