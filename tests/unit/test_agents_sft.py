"""Teaching the tool format: demonstrations tokenised with the loss on the assistant's turns only, bad rows refused,
and SFT on demonstrations followed by GRPO with tools, end to end on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from align.agents.demonstrations import IGNORE, tokenize_conversations
from align.agents.episode import tool_schemas
from align.agents.resolve import resolve_tools
from align.config.load import load_recipe
from align.config.schema import DataSpec
from align.data.conversations import load_tool_conversations
from align.models.tool_template import with_tool_template
from align.runner import run_recipe
from align.runtime.errors import AlignError

REPO = Path(__file__).resolve().parents[2]
EPISODE = [
    {"role": "user", "content": "What is 12 × 34?"},
    {"role": "assistant", "content": "", "tool_calls": [{"name": "python", "arguments": {"code": "print(12 * 34)"}}]},
    {"role": "tool", "name": "python", "content": "408"},
    {"role": "assistant", "content": "The answer is \\boxed{408}."},
]


def write_rows(path: Path, rows: list) -> DataSpec:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return DataSpec(path=str(path))


def test_only_the_assistants_turns_carry_labels(tiny_model: str, tmp_path: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    with_tool_template(tokenizer)
    tools = resolve_tools(["python"], "tools")
    conversations = load_tool_conversations(write_rows(tmp_path / "d.jsonl", [{"messages": EPISODE}]), ["python"])
    (row,), cut = tokenize_conversations(conversations, tokenizer, tool_schemas(tools, "tools"), 4096)
    assert cut == []
    trained = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != IGNORE])
    ignored = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label == IGNORE])
    assert '{"name": "python", "arguments": {"code": "print(12 * 34)"}}' in trained
    assert "The answer is \\boxed{408}.<|im_end|>" in trained
    assert "408" not in trained.replace("\\boxed{408}", "")  # the tool's output is context, not a target
    assert "<tool_response>\n408\n</tool_response>" in ignored and "What is 12 × 34?" in ignored
    assert '"name": "python", "description": "Run a Python program' in ignored  # the tool schema in the system prompt


def test_a_model_with_its_own_tool_template_keeps_it(tiny_model: str, tmp_path: Path):
    """Qwen2.5's template renders tools but marks no assistant tokens: TRL's training variant of it does."""
    from transformers import AutoTokenizer
    from trl.chat_template_utils import qwen2_5_chat_template

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = qwen2_5_chat_template
    assert with_tool_template(tokenizer) == "model" and tokenizer.chat_template == qwen2_5_chat_template
    spec = write_rows(tmp_path / "d.jsonl", [{"messages": EPISODE}])
    conversation = load_tool_conversations(spec, ["python"])
    (row,), _ = tokenize_conversations(conversation, tokenizer, tool_schemas(resolve_tools(["python"], "t"), "t"), 4096)
    trained = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != IGNORE])
    assert trained.startswith('\n<tool_call>\n{"name": "python"') and "You are Qwen" not in trained
    assert trained.endswith("The answer is \\boxed{408}.<|im_end|>\n")


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [*EPISODE[:1], {"role": "assistant", "content": "", "tool_calls": [{"name": "calc"}]}],
            "no tool named 'calc'",
        ),
        ([EPISODE[0], EPISODE[2], EPISODE[3]], "messages[1]: a tool result with no tool call before it"),
        (
            [*EPISODE[:1], {"role": "assistant", "tool_calls": [{"name": "python", "arguments": "[1]"}]}],
            "messages[1].tool_calls[0]: arguments must be a JSON object",
        ),
        (EPISODE[:1], "has no assistant turn"),
        ([{"role": "robot", "content": "hi"}], "messages[0]: a message needs a role"),
    ],
)
def test_bad_tool_conversations_are_refused(tmp_path: Path, messages: list, message: str):
    spec = write_rows(tmp_path / "d.jsonl", [{"messages": EPISODE}, {"messages": messages}])
    with pytest.raises(AlignError) as err:
        load_tool_conversations(spec, ["python"])
    assert "d.jsonl: row 2" in str(err.value) and message in str(err.value)


def test_sft_on_demonstrations_then_grpo_with_tools(tiny_model: str, tmp_path: Path):
    sft = {
        "name": "sft", "kind": "sft", "tools": ["python"], "max_steps": 2, "batch_size": 2, "max_length": 512,
        "data": {"path": str(REPO / "data/agents/math_sft.jsonl"), "limit": 4}, "report_to": [],
    }  # fmt: skip
    grpo = {
        "name": "grpo", "kind": "grpo", "init": "sft", "tools": ["python"], "verifier": "math",
        "prompts": {"path": str(REPO / "data/agents/math_prompts.jsonl"), "limit": 2},
        "prompt_selection": {"enabled": False}, "num_generations": 2, "prompts_per_step": 1,
        "max_completion_length": 24, "max_steps": 1, "max_turns": 2, "backend": "hf", "log_completions_steps": 1,
        "report_to": [],
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "agent", "model": tiny_model, "stages": [sft, grpo]}))
    run_recipe(load_recipe(path), tmp_path / "run")
    sft_manifest = json.loads((tmp_path / "run/sft/manifest.json").read_text())
    assert sft_manifest["metrics"]["train_rows"] == 4
    manifest = json.loads((tmp_path / "run/grpo/manifest.json").read_text())
    assert manifest["notes"]["tools"]["tools"] == ["python"]
    assert manifest["notes"]["tools"]["chat_template"] == "align"
    assert "TRL's generate" in manifest["notes"]["tools"]["rollouts"]
    tools = manifest["metrics"]["tools"]
    assert tools["episodes"] == 2 and tools["turns_per_episode"] >= 1
    assert (tmp_path / "run/grpo/completions.jsonl").read_text().strip()
