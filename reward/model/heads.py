"""The six-head reward network: a pretrained backbone, a pooled summary vector, one linear score per head."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

from reward.model.artifact import Pooling


def default_pooling(config: PretrainedConfig) -> Pooling:
    """Mean-pool encoders (every token sees the whole text); read a decoder's last token (only it does)."""
    is_decoder = getattr(config, "is_decoder", False)
    encoder = config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not is_decoder
    return "mean" if encoder else "last"


class RewardHeads(nn.Module):
    """backbone → pooled hidden state → Linear(hidden, num_heads): one score per dimension per text."""

    def __init__(self, backbone: PreTrainedModel, num_heads: int, pooling: Pooling) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.heads = nn.Linear(backbone.config.hidden_size, num_heads)

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "mean":
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        # Position of the last real token, whichever side the padding is on.
        last = attention_mask.shape[1] - 1 - attention_mask.flip(1).argmax(1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return self.heads(self.pool(hidden, attention_mask).to(self.heads.weight.dtype))
