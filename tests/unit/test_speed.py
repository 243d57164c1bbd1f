"""Each speed option against the stock TRL path it replaces: same loss and gradients on the same batch (tiny model).

Tolerance: 1e-5 relative on the loss and 1e-4 on every gradient (fp32 on CPU; the paths differ only in the order
of floating-point sums: concatenated vs padded rows, a reference computed in a larger batch).
"""

from __future__ import annotations

import torch

from align.stages.trl_private import prepare_inputs

RTOL_LOSS, RTOL_GRAD, ATOL_GRAD = 1e-5, 1e-4, 1e-7


def _common(tmp_path, **extra):
    return {
        "output_dir": str(tmp_path),
        "per_device_train_batch_size": 4,
        "max_steps": 1,
        "learning_rate": 1e-3,
        "use_cpu": True,
        "bf16": False,
        "report_to": "none",
        "save_strategy": "no",
        "dataloader_pin_memory": False,
        "seed": 0,
    } | extra


def _loss_and_grads(trainer):
    """Loss and LoRA gradients of the trainer's first batch, exactly as its training step computes them."""
    trainer.model.train()
    batch = prepare_inputs(trainer, next(iter(trainer.get_train_dataloader())))
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def _assert_same(a, b):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    torch.testing.assert_close(loss_a, loss_b, rtol=RTOL_LOSS, atol=0)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=RTOL_GRAD, atol=ATOL_GRAD, msg=name)


def _policy(tiny_model, adapter_b: float = 0.0):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear")
    )
    for name, param in model.named_parameters():
        if "lora_B" in name and adapter_b:
            torch.nn.init.normal_(param, std=adapter_b)
    return model


def test_sft_padding_free_gives_the_padded_loss_and_gradients(tiny_model, tmp_path):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from align.stages.speed import sft_speed

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = [
        {"prompt": f"What is {a} + {a * 3}?", "completion": f"{a} + {a * 3} = {4 * a}." * (1 + a % 3)} for a in range(8)
    ]

    def run(speed):
        config, trainer_kwargs = speed
        trainer = SFTTrainer(
            model=_policy(tiny_model, adapter_b=0.02),
            args=SFTConfig(**_common(tmp_path, max_length=64, shuffle_dataset=False), **config),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            **trainer_kwargs,
        )
        return _loss_and_grads(trainer)

    stock = run(({}, {}))
    free_config, free_trainer = sft_speed(tokenizer.pad_token_id, padding_free=True, liger=False)
    assert "data_collator" in free_trainer  # the option really changes the batches
    _assert_same(stock, run((free_config, free_trainer)))


def test_dpo_precomputed_reference_gives_the_same_loss_and_gradients(tiny_model, tmp_path):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from align.stages.speed import dpo_speed_kwargs

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = [
        {"prompt": f"What is {a} + {a}?", "chosen": f" {2 * a}.", "rejected": f" It is {2 * a + 1}, I think."}
        for a in range(8)
    ]

    def run(extra):
        trainer = DPOTrainer(
            model=_policy(tiny_model, adapter_b=0.02),  # continuing an adapter: the reference is a frozen copy
            args=DPOConfig(**_common(tmp_path / str(bool(extra)), max_length=64, beta=0.1), **extra),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
        )
        return trainer, _loss_and_grads(trainer)

    _, stock = run({})
    trainer, fast = run(dpo_speed_kwargs(precompute_ref=True, batch_size=4, liger=False))
    assert "ref_chosen_logps" in trainer.train_dataset.column_names  # computed once, stored with the pairs
    _assert_same(stock, fast)


def test_merged_rollouts_train_and_follow_the_policy(tiny_model, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from align.config.schema import LoraSpec
    from align.models.load import lora_config
    from align.stages.grpo.rollouts.merged import MergedRollout

    steps = 2
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = [{"prompt": [{"role": "user", "content": f"What is {a} + 2?"}]} for a in range(8)]
    lengths = []

    def length_reward(completions, completion_ids, **_):
        lengths.extend(len(ids) for ids in completion_ids)
        return [float(len(str(c)) % 5) for c in completions]

    rollout = MergedRollout(batch_size=4)
    torch.manual_seed(0)
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[length_reward],
        args=GRPOConfig(
            **_common(tmp_path, max_steps=steps, learning_rate=5e-2),
            num_generations=2,
            max_completion_length=6,
            generation_kwargs={"min_new_tokens": 6},
            use_vllm=False,
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(LoraSpec(r=4, alpha=8)),
        rollout_func=rollout,
    )
    trainer.train()
    # One merged copy, re-synced once per optimiser step; the forced length reached every completion.
    assert len(rollout.sync_s) == steps and rollout.completions == steps * 4
    assert lengths == [6] * (steps * 4)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    trainer.model.eval()  # LoRA dropout off, as in the copy
    with torch.no_grad():
        policy = trainer.model(input_ids=ids).logits
        assert not torch.allclose(rollout.copy.model(input_ids=ids).logits, policy, atol=1e-4)  # last step moved it
        rollout.copy.sync()
        torch.testing.assert_close(rollout.copy.model(input_ids=ids).logits, policy, rtol=1e-4, atol=1e-5)


def test_liger_is_opt_in_for_sft() -> None:
    """Measured slower than stock on an H200 (README, Performance): a recipe must ask for it."""
    from align.stages.speed import sft_speed

    assert sft_speed(0)[0]["use_liger_kernel"] is False
    assert sft_speed(0, liger=True)[0]["use_liger_kernel"] is True
