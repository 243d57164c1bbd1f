"""Tool preference pairs tokenised for DPO, with the tool results inside a completion out of its log-probs.

Each pair is rendered as SFT renders a demonstration (`render`: the stage's tool schemas in the system prompt, the
same template), once as prompt + chosen and once as prompt + rejected. TRL's DPOTrainer scores every completion token
and offers no per-token mask: its tokenisation re-renders the messages, and its collator's `completion_mask` is 1 on
the whole completion. So align tokenises the pairs itself and hands TRL `prompt_ids`/`chosen_ids`/`rejected_ids` with
a mask per completion (1 where the template marks the assistant's tokens), and `ToolPreferenceCollator` multiplies
that mask into TRL's `completion_mask` — which TRL uses for the policy's log-probs, the reference's (precomputed or
per step) and its logged metrics alike. The messages never sit in a `datasets` table either, which would merge every
tool's argument names into one struct (as for SFT, align.agents.demonstrations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trl.trainer.dpo_trainer import DataCollatorForPreference

from align.agents.demonstrations import render, training_template
from align.runtime.errors import AlignError

SIDES = ("chosen", "rejected")


def tokenize_preferences(
    rows: list[dict[str, Any]], tokenizer: Any, schemas: list[dict[str, Any]], max_length: int
) -> tuple[list[dict[str, list[int]]], list[int]]:
    """(rows of prompt/chosen/rejected ids and chosen/rejected masks, the indices of rows longer than max_length)."""
    from trl.data_utils import common_prefix_length

    template = training_template(tokenizer)
    out: list[dict[str, list[int]]] = []
    cut: list[int] = []
    for index, row in enumerate(rows):
        prompt_ids, _ = render(row["prompt"], tokenizer, schemas, template, add_generation_prompt=True)
        whole = {side: render(row["prompt"] + row[side], tokenizer, schemas, template) for side in SIDES}
        # As TRL does: the completion starts where the prompt's rendering and the whole conversation's part ways.
        start = min(common_prefix_length(prompt_ids, whole[side][0]) for side in SIDES)
        tokenized = {"prompt_ids": prompt_ids[:start]}
        for side in SIDES:
            ids, mask = whole[side]
            if not any(mask[start:]):
                raise AlignError(
                    f"row {index + 1}: the chat template marks no assistant tokens in {side!r} ({{% generation %}}); "
                    "align cannot keep the tool results out of DPO's log-probs with it"
                )
            tokenized[f"{side}_ids"], tokenized[f"{side}_mask"] = ids[start:], mask[start:]
        if start + max(len(tokenized[f"{side}_ids"]) for side in SIDES) > max_length:
            cut.append(index)
        out.append(tokenized)
    return out, cut


@dataclass
class ToolPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, its `completion_mask` zero on the completion tokens the model did not write."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        batch = super().torch_call(examples)
        # TRL's layout: every example's chosen row, then every example's rejected row; each row cut at the end to
        # max_length (keep_start) and right-padded, so the prompt's zeros and the completion's mask line up with it.
        own = torch.zeros_like(batch["completion_mask"])
        rows = [[0] * len(e["prompt_ids"]) + e[f"{side}_mask"] for side in SIDES for e in examples]
        for number, mask in enumerate(rows):
            mask = mask[: own.size(1)]
            own[number, : len(mask)] = torch.tensor(mask, dtype=own.dtype)
        batch["completion_mask"] = batch["completion_mask"] * own
        return batch
