"""TRL's tool loop over align's episodes on a tiny real model: tool results are in the context but get no gradient,
and the log-probs an episode carries are the ones the policy computes on the same tokens.

The model is real (a 2-layer random Llama); what it says is scripted — one turn calling the python tool, one answer —
because a random model never writes a well-formed tool call. Everything after generation (the tool call in the
sandbox, the token concatenation, masks, log-probs, the loss) is TRL's and align's own code.
"""

from __future__ import annotations

import pytest
import torch

from align.agents.calls import guard_tool_calls
from align.agents.episode import Toolbox
from align.agents.resolve import resolve_tools
from align.models.tool_template import with_tool_template
from align.stages.trl_private import generate_and_score

CALL = '<tool_call>\n{"name": "python", "arguments": {"code": "print(6 * 7)"}}\n</tool_call><|im_end|>'
ANSWERS = ["The answer is 42.<|im_end|>", "The answer is 41.<|im_end|>"]
PROMPT = [{"role": "user", "content": "What is 6 times 7?"}]


def correct(completions, **kwargs):
    return [1.0 if "42" in c[-1]["content"] else 0.0 for c in completions]


@pytest.fixture
def trainer(tiny_model: str, tmp_path, monkeypatch: pytest.MonkeyPatch):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    assert with_tool_template(tokenizer) == "align"
    toolbox = Toolbox(resolve_tools(["python"], "tools"), tokenizer, 64, 5.0, "tools")
    guard_tool_calls(tokenizer, toolbox.names)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    config = GRPOConfig(
        output_dir=str(tmp_path),
        num_generations=2,
        per_device_train_batch_size=2,
        max_completion_length=96,
        max_tool_calling_iterations=1,
        beta=0.1,  # the KL term is masked the same way: it must be there to be checked
        num_iterations=2,  # makes TRL record the sampling policy's log-probs (old_per_token_logps)
        use_cpu=True,
        bf16=False,
        report_to=[],
    )
    built = GRPOTrainer(
        model=model,
        reward_funcs=[correct],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": PROMPT}] * 2),
        processing_class=tokenizer,
        environment_factory=toolbox.episode_class,
    )
    scripted = iter([[tokenizer(CALL)["input_ids"]] * 2, [tokenizer(a)["input_ids"] for a in ANSWERS]])
    monkeypatch.setattr(built, "_generate_single_turn", lambda *args, **kwargs: (next(scripted), None))
    built.toolbox = toolbox
    return built


def test_tool_results_are_in_the_context_but_get_no_gradient(trainer):
    batch = generate_and_score(trainer, [{"prompt": PROMPT}, {"prompt": PROMPT}])
    tool_mask, completion_mask = batch["tool_mask"], batch["completion_mask"]
    tokenizer = trainer.processing_class
    text = tokenizer.decode(batch["completion_ids"][0][tool_mask[0].bool()])
    assert "print(6 * 7)" in text and "42" in text  # the call and the answer are the model's tokens
    masked = tokenizer.decode(batch["completion_ids"][0][(completion_mask[0] * (1 - tool_mask[0])).bool()])
    assert "<tool_response>\n42\n</tool_response>" in masked  # the sandbox's output, masked out
    assert trainer.toolbox.stats.calls == 2 and trainer.toolbox.stats.errors == 0

    captured: list[torch.Tensor] = []

    def keep_hidden(module, inputs, output):
        output.retain_grad()
        captured.append(output)

    # TRL computes log-probs with a fused LM head, so no logits tensor exists to inspect; the final norm's output
    # at position t feeds only the prediction of token t+1, so its gradient is zero exactly when that token's is.
    hook = trainer.model.model.norm.register_forward_hook(keep_hidden)
    try:
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
    finally:
        hook.remove()
    assert batch["advantages"].abs().sum() > 0  # one right, one wrong answer: a real gradient
    # The hidden state just before completion token j predicts it.
    width = batch["completion_ids"].shape[1]
    grad = captured[-1].grad[:, -width - 1 : -1, :].abs().sum(-1)
    tool_positions = (completion_mask * (1 - tool_mask)).bool()
    model_positions = (completion_mask * tool_mask).bool()
    assert tool_positions.sum() > 10
    assert torch.all(grad[tool_positions] == 0)
    assert torch.all(grad[model_positions] > 0)


def test_logged_logprobs_are_the_policys_on_the_same_tokens(trainer):
    batch = generate_and_score(trainer, [{"prompt": PROMPT}, {"prompt": PROMPT}])
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    width = batch["completion_ids"].shape[1]
    with torch.no_grad():
        logits = trainer.model(input_ids=ids, attention_mask=attention).logits[:, -width - 1 : -1, :]
    policy = torch.log_softmax(logits.float(), dim=-1).gather(-1, batch["completion_ids"].unsqueeze(-1)).squeeze(-1)
    model_positions = (batch["completion_mask"] * batch["tool_mask"]).bool()
    logged = batch["old_per_token_logps"]
    assert torch.allclose(logged[model_positions], policy[model_positions], atol=1e-4)

    # The tokens trained on are the episode as the chat template renders it: no drift from re-tokenising.
    tokenizer = trainer.processing_class
    episode = tokenizer.apply_chat_template(
        [*PROMPT, {"role": "assistant", "content": "", "tool_calls": [_call()]}, _result()],
        tools=[trainer.environments[0].python],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=False,
    )
    row = ids[0][attention[0].bool()].tolist()
    assert row[: len(episode)] == episode


def _call():
    return {"type": "function", "function": {"name": "python", "arguments": {"code": "print(6 * 7)"}}}


def _result():
    return {"role": "tool", "name": "python", "content": "42"}
