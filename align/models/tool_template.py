"""Chat templates for tool use: the model's own where it renders tools, else align's (Qwen2.5's convention).

A tool stage needs a template that renders the tool schemas, assistant tool calls and tool results, keeps earlier
turns' tokens unchanged as turns are added (TRL concatenates ids turn by turn), and marks the assistant's tokens
(`{% generation %}`) so SFT can put the loss on them alone. The default model (SmolLM2) has none of this, so align
ships Qwen2.5's `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` convention with SmolLM2's own default
system prompt, and parses calls with TRL's parser for that convention.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from align.runtime.errors import AlignError

log = logging.getLogger(__name__)

# Qwen2.5's tool template (TRL's training variant, with generation markers) over `<|im_start|>`/`<|im_end|>`, with
# SmolLM2's default system prompt instead of Qwen's.
TOOL_CHAT_TEMPLATE = (Path(__file__).parent / "tool_chat.jinja").read_text()

_CHATML = ("<|im_start|>", "<|im_end|>")


def with_tool_template(tokenizer: Any) -> str:
    """Give `tokenizer` a chat template that renders tools and a parser for its calls; returns which template.

    The model's own template is kept where it renders a whole tool exchange and TRL knows how to parse its calls
    (Qwen2.5/3, Llama 3.1, ...); a ChatML model without tool syntax (the default SmolLM2) gets align's template.
    """
    from trl.chat_template_utils import add_response_schema, qwen3_template, supports_tool_calling

    if supports_tool_calling(tokenizer):
        try:
            add_response_schema(tokenizer)
        except ValueError:
            if getattr(tokenizer, "response_template", None) is None and not getattr(
                tokenizer, "response_schema", None
            ):
                raise AlignError(
                    "model: its chat template renders tools but align cannot parse its tool calls; give the "
                    "tokenizer a `response_template` (transformers' response parsing) or use a ChatML model"
                ) from None
        return "model"
    vocab = tokenizer.get_vocab()
    if not all(token in vocab for token in _CHATML):
        raise AlignError(
            "model: its chat template has no tool syntax and it is not a ChatML model (<|im_start|>/<|im_end|>), "
            "so align's tool template does not fit it; use a model whose template renders tools"
        )
    tokenizer.chat_template = TOOL_CHAT_TEMPLATE
    tokenizer.response_template = qwen3_template  # the same <tool_call> JSON convention as Qwen2.5
    log.info("chat template: align's tool template (the model's own has no tool syntax)")
    return "align"
