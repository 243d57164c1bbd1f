"""DPO on tool conversations: pairs rendered with the tool schemas as SFT renders them, tool results inside a
completion out of the log-probs (zero gradient), bad rows refused with the row named, a stage trained end to end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from align.agents.demonstrations import tool_setup
from align.agents.preferences import ToolPreferenceCollator, tokenize_preferences
from align.config.load import load_recipe
from align.data.preferences import preference_rows
from align.runner import run_recipe
from align.runtime.errors import AlignError
from align.stages.trl_private import prepare_inputs, with_tokenized_rows


def call(code: str) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [{"name": "python", "arguments": {"code": code}}]}


def pair(a: int) -> dict:
    """A right answer reached through the python tool, against a wrong one given without it."""
    return {
        "prompt": [{"role": "user", "content": f"What is {a} × 37?"}],
        "chosen": [
            call(f"print({a} * 37)"),
            {"role": "tool", "name": "python", "content": str(a * 37)},
            {"role": "assistant", "content": f"The answer is \\boxed{{{a * 37}}}."},
        ],
        "rejected": [{"role": "assistant", "content": f"The answer is \\boxed{{{a * 37 + 1}}}."}],
    }


# A prompt that already holds a tool exchange; the completions are the final answers only.
LATER_TURN = {
    "prompt": [*pair(3)["prompt"], call("print(3 * 37)"), {"role": "tool", "name": "python", "content": "111"}],
    "chosen": "The answer is \\boxed{111}.",
    "rejected": "The answer is \\boxed{112}.",
}
ROWS = [pair(a) for a in (4, 6, 8)] + [LATER_TURN]


def tokenized(tiny_model: str, rows: list, chat_template: str | None = None, expected: str = "align") -> tuple:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = chat_template or tokenizer.chat_template
    names, schemas, template = tool_setup(SimpleNamespace(name="dpo", tools=["python"]), tokenizer)
    assert template == expected  # the tiny model has SmolLM2's template, which has no tool syntax
    out, cut = tokenize_preferences(preference_rows(rows, "prefs.jsonl", names), tokenizer, schemas, 4096)
    assert cut == []
    return tokenizer, out


def test_pairs_are_rendered_with_the_tool_schemas_and_the_calls(tiny_model: str):
    tokenizer, (row, *_, later) = tokenized(tiny_model, ROWS)
    prompt, chosen = tokenizer.decode(row["prompt_ids"]), tokenizer.decode(row["chosen_ids"])
    assert '"name": "python", "description": "Run a Python program' in prompt  # the schema in the system prompt
    assert prompt.endswith("What is 4 × 37?<|im_end|>\n<|im_start|>assistant\n")
    assert '<tool_call>\n{"name": "python", "arguments": {"code": "print(4 * 37)"}}\n</tool_call>' in chosen
    assert "<tool_response>\n148\n</tool_response>" in chosen and chosen.endswith("\\boxed{148}.<|im_end|>\n")
    assert tokenizer.decode(row["rejected_ids"]) == "The answer is \\boxed{149}.<|im_end|>\n"
    # An earlier exchange in the prompt is context: the completion is the answer after it.
    assert "<tool_response>\n111\n</tool_response>" in tokenizer.decode(later["prompt_ids"])
    assert tokenizer.decode(later["chosen_ids"]) == "The answer is \\boxed{111}.<|im_end|>\n"


def test_tool_results_in_a_completion_are_masked(tiny_model: str):
    tokenizer, rows = tokenized(tiny_model, ROWS)
    ids, mask = rows[0]["chosen_ids"], rows[0]["chosen_mask"]
    scored = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    masked = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert '{"name": "python", "arguments": {"code": "print(4 * 37)"}}' in scored and "\\boxed{148}" in scored
    assert "148" not in scored.replace("\\boxed{148}", "")
    assert "<tool_response>\n148\n</tool_response>" in masked
    assert all(rows[0]["rejected_mask"])  # a one-turn answer is the model's throughout


def test_a_model_with_its_own_tool_template_keeps_it(tiny_model: str):
    from trl.chat_template_utils import qwen2_5_chat_template

    tokenizer, (row, *_) = tokenized(tiny_model, ROWS, qwen2_5_chat_template, expected="model")
    ids, mask = row["chosen_ids"], row["chosen_mask"]
    assert "You are Qwen" in tokenizer.decode(row["prompt_ids"])  # Qwen2.5's own system prompt, not align's
    scored = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert scored.startswith('<tool_call>\n{"name": "python"') and "<tool_response>" not in scored
    assert "<tool_response>\n148\n</tool_response>" in tokenizer.decode(ids)


def test_a_tool_result_token_gets_no_gradient_in_dpo(tiny_model: str, tmp_path: Path):
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    tokenizer, rows = tokenized(tiny_model, ROWS)
    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear")
    )
    for name, param in model.named_parameters():  # policy ≠ reference, so the DPO loss has a gradient
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)
    collator = ToolPreferenceCollator(pad_token_id=tokenizer.pad_token_id, max_length=4096)
    args = DPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=4, use_cpu=True, bf16=False, report_to="none",
        precompute_ref_log_probs=False, remove_unused_columns=False, max_length=4096,
    )  # fmt: skip
    trainer = with_tokenized_rows(DPOTrainer)(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
        data_collator=collator,
    )  # fmt: skip
    batch = prepare_inputs(trainer, collator(rows))
    captured: list[torch.Tensor] = []

    def keep_hidden(module, inputs, output):
        if output.requires_grad:  # the policy's pass, not the reference's (no grad)
            output.retain_grad()
            captured.append(output)

    # As in test_agents_masking: the final norm's output at position t feeds only the prediction of token t+1.
    hook = trainer.model.base_model.model.model.norm.register_forward_hook(keep_hidden)
    try:
        trainer.model.train()
        trainer.compute_loss(trainer.model, batch).backward()
    finally:
        hook.remove()
    grad = captured[-1].grad.abs().sum(-1)[:, :-1]
    target = batch["input_ids"][:, 1:]
    scored = batch["completion_mask"][:, 1:].bool()
    # Row 0 is pair 0's chosen conversation: its tool result is in the sequence but not scored.
    start = len(rows[0]["prompt_ids"])
    tool = torch.zeros_like(scored)
    tool[0, start - 1 : start - 1 + len(rows[0]["chosen_ids"])] = ~torch.tensor(rows[0]["chosen_mask"]).bool()
    assert "<tool_response>" in tokenizer.decode(target[0][tool[0]])
    assert torch.all(grad[tool] == 0)
    assert torch.all(grad[scored] > 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"chosen": [call("print(1)"), {"role": "tool", "name": "python", "content": "1"}]},
            "row 2: 'chosen' must be assistant turns and tool results, the last an assistant one",
        ),
        (
            {"chosen": [{"role": "assistant", "tool_calls": [{"name": "calc", "arguments": {}}]}]},
            "row 2: chosen[0].tool_calls[0]: no tool named 'calc' in the stage's tools (python)",
        ),
        (
            {"rejected": [{"role": "tool", "content": "7"}, {"role": "assistant", "content": "7"}]},
            "row 2: rejected[0]: a tool result with no tool call before it",
        ),
        (
            {"chosen": [{"role": "assistant", "tool_calls": [{"name": "python", "arguments": "[1]"}]}]},
            "row 2: chosen[0].tool_calls[0]: arguments must be a JSON object",
        ),
        ({"chosen": [{"role": "assistant", "tool_calls": "python"}]}, "row 2: chosen[0].tool_calls: a list of tool"),
        ({"prompt": [*pair(1)["prompt"], call("1")]}, "row 2: the prompt must end with a user or tool turn"),
    ],
)
def test_bad_tool_pairs_are_refused(change: dict, message: str):
    with pytest.raises(AlignError) as err:
        preference_rows([pair(1), pair(2) | change], "prefs.jsonl", ["python"])
    assert str(err.value).startswith("prefs.jsonl: ") and message in str(err.value)


def test_a_completion_may_call_again_after_the_prompts_exchange():
    row = LATER_TURN | {"chosen": pair(1)["chosen"]}
    (out,) = preference_rows([row], "prefs.jsonl", ["python"])
    assert [m["role"] for m in out["chosen"]] == ["assistant", "tool", "assistant"]
    assert out["chosen"][0]["tool_calls"][0] == {
        "type": "function", "function": {"name": "python", "arguments": {"code": "print(1 * 37)"}}
    }  # fmt: skip


def test_tool_calls_need_a_stage_with_tools():
    with pytest.raises(AlignError, match="row 1: has tool calls or tool results; give the dpo stage the `tools`"):
        preference_rows([pair(1)], "prefs.jsonl")


def recipe(tmp_path: Path, tiny_model: str, dpo: dict) -> Path:
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    stage = {
        "name": "dpo", "kind": "dpo", "pairs": str(prefs), "tools": ["python"], "max_steps": 1, "batch_size": 4,
        "max_length": 512, "report_to": [], "logging_steps": 1,
    } | dpo  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"model": tiny_model, "lora": {"r": 4, "alpha": 8}, "stages": [stage]}))
    return path


def test_a_dpo_stage_with_tools_trains(tiny_model: str, tmp_path: Path):
    (outcome,) = run_recipe(load_recipe(recipe(tmp_path, tiny_model, {})), tmp_path / "run")
    manifest = json.loads((tmp_path / "run/dpo/manifest.json").read_text())
    assert manifest["metrics"]["pairs"] == 4 and manifest["metrics"]["steps"] == 1
    assert manifest["notes"]["tools"] == {"tools": ["python"], "chat_template": "align"}
    assert outcome.metrics["loss_first"] == pytest.approx(0.6931, abs=1e-3)  # a fresh adapter: policy = reference


def test_tool_names_are_checked_at_load(tiny_model: str, tmp_path: Path):
    with pytest.raises(Exception, match=r"stages\.dpo\.tools\[0\]: 'calc' is neither a built-in tool"):
        load_recipe(recipe(tmp_path, tiny_model, {"tools": ["calc"]}))
