"""Tool conversations tokenised for SFT with the loss on the assistant's turns only.

The chat template renders each conversation with the stage's tool schemas (the system prompt GRPO shows) and marks
the assistant's tokens (`{% generation %}`); every other token — system prompt, user turns, tool results — gets
label -100. Done here rather than by TRL's `assistant_only_loss` so that the rows reach TRL as plain
`input_ids`/`labels`: a `datasets` table would merge every tool's argument names into one struct, and render the
arguments a call did not have as nulls.
"""

from __future__ import annotations

from typing import Any

from align.runtime.errors import AlignError

IGNORE = -100


def training_template(tokenizer: Any) -> str | None:
    """The template to render demonstrations with: the tokenizer's when it marks the assistant's tokens, else TRL's
    training variant of it (Qwen2.5's own template, for one, has no `{% generation %}` markers)."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template):
        return None
    try:
        return get_training_chat_template(tokenizer)
    except ValueError:
        raise AlignError(
            "model: its chat template does not mark the assistant's tokens ({% generation %}) and TRL has no "
            "training variant of it, so SFT on tool conversations cannot put the loss on the assistant's turns"
        ) from None


def tokenize_conversations(
    conversations: list[list[dict[str, Any]]], tokenizer: Any, schemas: list[dict[str, Any]], max_length: int
) -> tuple[list[dict[str, list[int]]], list[int]]:
    """(rows of input_ids and labels, the indices of those cut to max_length)."""
    rows: list[dict[str, list[int]]] = []
    cut: list[int] = []
    template = training_template(tokenizer)
    for index, messages in enumerate(conversations):
        ids, mask = render(messages, tokenizer, schemas, template)
        if not any(mask):
            raise AlignError(
                f"row {index + 1}: the chat template marks no assistant tokens ({{% generation %}}); align cannot "
                "put the loss on the assistant's turns with it"
            )
        if len(ids) > max_length:
            cut.append(index)
            ids, mask = ids[:max_length], mask[:max_length]
        rows.append({"input_ids": ids, "labels": [t if m else IGNORE for t, m in zip(ids, mask, strict=True)]})
    return rows, cut


def render(
    messages: list[dict[str, Any]],
    tokenizer: Any,
    schemas: list[dict[str, Any]],
    template: str | None,
    add_generation_prompt: bool = False,
) -> tuple[list[int], list[int]]:
    """The token ids of `messages` with the tool schemas in the system prompt, and 1 on each token the template marks
    as the assistant's (`template`: from `training_template`)."""
    rendered = tokenizer.apply_chat_template(
        messages,
        tools=schemas,
        chat_template=template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        add_generation_prompt=add_generation_prompt,
    )
    return list(rendered["input_ids"]), list(rendered["assistant_masks"])


def tool_setup(stage: Any, tokenizer: Any) -> tuple[list[str], list[dict[str, Any]], str]:
    """A stage's tool names and schemas, `tokenizer` given a template that renders them, and which template that is
    (`with_tool_template`: "model" or "align")."""
    from align.agents.episode import tool_schemas
    from align.agents.resolve import resolve_tools
    from align.models.tool_template import with_tool_template

    where = f"stages.{stage.name}.tools"
    tools = resolve_tools(stage.tools, where)
    schemas = tool_schemas(tools, where)
    template = with_tool_template(tokenizer)
    return [t.name for t in tools], schemas, template


def tool_demonstrations(stage: Any, tokenizer: Any) -> tuple[Any, Any, list[int]]:
    """An SFT stage's train and eval rows with `tools` (a tool template on `tokenizer` first), and the indices of
    the train rows cut to max_length (the stage counts them, or refuses them under `strict`)."""
    from datasets import Dataset

    from align.data.conversations import load_tool_conversations

    names, schemas, _ = tool_setup(stage, tokenizer)
    conversations = load_tool_conversations(stage.data, names)
    train, cut = tokenize_conversations(conversations, tokenizer, schemas, stage.max_length)
    evaluation = None
    if stage.eval_data:
        conversations = load_tool_conversations(stage.eval_data, names)
        evaluation = Dataset.from_list(tokenize_conversations(conversations, tokenizer, schemas, stage.max_length)[0])
    return Dataset.from_list(train), evaluation, cut
