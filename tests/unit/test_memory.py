"""Memory estimates against numbers worked out by hand, term by term, for two configurations."""

from __future__ import annotations

import pytest

from align.config.schema import Recipe
from align.memory.estimate import NF4_BYTES_PER_WEIGHT, kv_cache_bytes
from align.memory.shape import ModelShape
from align.memory.stages import Settings, estimate_stage

QWEN_05B = ModelShape(
    hidden=896, layers=24, heads=14, kv_heads=2, intermediate=4864, vocab=151936, tied_embeddings=True
)
QWEN_7B = ModelShape(hidden=3584, layers=28, heads=28, kv_heads=4, intermediate=18944, vocab=152064)
GPU = Settings(precision="bf16", on_gpu=True, device_bytes=80 * 2**30, prompt_tokens=512)


def recipe(lora: dict, stage: dict) -> Recipe:
    return Recipe.model_validate({"name": "m", "lora": lora, "stages": [stage]})


def test_parameter_counts_match_the_published_qwen_sizes():
    # Qwen2.5-0.5B: 494,032,768 parameters; Qwen2.5-7B: 7,615,616,512 (their model cards / safetensors index).
    assert QWEN_05B.params() == 494_032_768
    assert QWEN_7B.params() == 7_615_616_512
    # PEFT prints 8,798,208 trainable parameters for r=16 on all linear layers of Qwen2.5-0.5B.
    assert QWEN_05B.lora_params(16, "all-linear") == 8_798_208


def test_sft_0_5b_bf16_lora_8k_with_checkpointing_by_hand():
    stage = {"name": "sft", "kind": "sft", "data": "x.jsonl", "batch_size": 1, "max_length": 8192}
    r = recipe({"r": 16, "dropout": 0.05}, stage)
    estimate = estimate_stage(r, r.stages[0], QWEN_05B, GPU)
    parts = estimate.parts
    assert parts["weights"] == 494_032_768 * 2
    assert parts["lora+optimizer"] == 8_798_208 * 16
    # Elements per token per layer: attention 2*896 + (896 + 2*128) + (896 + 128) + 896 = 4864; MLP 2*896 + 4*4864
    # = 21248, 2 bytes each. LoRA, per adapted linear: r (2 bytes), its dropout output (2 bytes) and dropout mask
    # (1 byte) over its input width: inputs 6*896 + 4864 = 10240, so 7*16*2 + 10240*3 = 30944 bytes.
    one_layer = 8192 * ((4864 + 21248) * 2 + 30944)
    checkpoints = 24 * 8192 * 896 * 2
    gradients = 4 * 8192 * 896 * 2
    assert parts["activations"] == checkpoints + one_layer + gradients
    # TRL's fused head: one bf16 tile of 4096 tokens x 32768 vocabulary entries, the fp32 gradient of the hidden states.
    assert parts["lm_head"] == 4096 * 32768 * 2 + 8192 * 896 * 4
    assert parts["cuda workspaces"] == 2 * 32 * 2**20
    assert estimate.total == 2_586_095_360


def test_dpo_7b_qlora_q_v_r64_by_hand():
    lora = {"r": 64, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "quantize": "4bit"}
    stage = {"name": "dpo", "kind": "dpo", "init": "a", "pairs": "b", "batch_size": 2, "max_length": 1024}
    settings = Settings(precision="bf16", on_gpu=True)
    pre = {"name": "a", "kind": "sft", "data": "x.jsonl"}
    pairs = {"name": "b", "kind": "pairs", "init": "a", "prompts": "p.jsonl", "verifier": "math"}
    full = Recipe.model_validate({"name": "m", "lora": lora, "stages": [pre, pairs, stage]})
    estimate = estimate_stage(full, full.stages[2], QWEN_7B, settings)
    parts = estimate.parts
    # Linear weights per layer: q 3584*3584, k and v 3584*512, o 3584*3584, MLP 3*3584*18944.
    packed = 28 * (2 * 3584 * 3584 + 2 * 3584 * 512 + 3 * 3584 * 18944)
    assert packed == 6_525_288_448
    assert parts["weights"] == packed * NF4_BYTES_PER_WEIGHT + (7_615_616_512 - packed) * 2
    # QLoRA adapters are bf16: weight, grad and two AdamW moments at 2 bytes each.
    assert parts["lora+optimizer"] == 28 * (64 * (3584 + 3584) + 64 * (3584 + 512)) * 8
    # Chosen and rejected: 4 sequences of 1024 tokens; no dropout and bf16 adapters, so each adapted linear
    # shares its input and saves only r.
    tokens = 4 * 1024
    one_layer = tokens * ((2 * 3584 + 3584 + 1024 + 3584 + 512 + 3584) + (2 * 3584 + 4 * 18944) + 2 * 64) * 2
    assert parts["activations"] == 28 * tokens * 3584 * 2 + one_layer + 4 * tokens * 3584 * 2
    # TRL's frozen "ref" copy of the starting adapter, bf16 on a 4-bit base.
    assert parts["ref adapter"] == 28 * (64 * (3584 + 3584) + 64 * (3584 + 512)) * 2
    # The old total 8,083,356,416 less half the fp32 head tile it counted, plus the ref copy and the workspaces.
    assert estimate.total == pytest.approx(8_083_356_416 - 4096 * 32768 * 2 + 40_370_176 + 2 * 32 * 2**20)


def test_checkpointing_off_keeps_every_layer():
    stage = {"name": "sft", "kind": "sft", "data": "x.jsonl", "max_length": 1024, "gradient_checkpointing": False}
    r = recipe({"r": 16, "dropout": 0.0}, stage)
    off = estimate_stage(r, r.stages[0], QWEN_05B, GPU).parts["activations"]
    # Without dropout an fp32 adapter still saves its own copy of its input: PEFT casts it to fp32, autocast
    # back to bf16 (inputs 6*896 + 4864 = 10240 wide).
    assert off == 24 * 1024 * (4864 + 21248 + 10240 + 7 * 16) * 2


def test_pairs_sampler_counts_one_decode_batch():
    stages = [
        {"name": "sft", "kind": "sft", "data": "x.jsonl"},
        {"name": "p", "kind": "pairs", "init": "sft", "prompts": "p.jsonl", "verifier": "math", "max_new_tokens": 256},
    ]
    r = Recipe.model_validate({"name": "m", "stages": stages})
    parts = estimate_stage(r, r.stages[1], QWEN_05B, GPU).parts
    # HFSampler decodes 128 rows on a GPU. K and V, 24 layers, 2 kv heads x 64 dims, bf16: 12288 bytes a token,
    # 512 + 256 tokens a row, twice (a rebuilt cache is filled before the old one is freed).
    assert parts["sampler kv cache"] == 2 * 128 * 768 * 12288
    assert kv_cache_bytes(QWEN_05B, sequences=1, length=1, precision="bf16") == 12288
    # Each step's logits at temperature 0.8: bf16 output + fp32 upcast, scaled copy and log-sum-exp temporary.
    assert parts["sampler logits"] == 128 * 151936 * (2 + 3 * 4)
    # The prefill of 128 // 4 prompts of 512 tokens, one layer at a time: 2H + q + 2kv + 3I elements a token.
    assert parts["sampler prefill"] == 32 * 512 * (2 * 896 + 896 + 256 + 3 * 4864) * 2


def test_shape_from_a_transformers_config_matches_the_hand_written_one():
    from transformers import Qwen2Config

    config = Qwen2Config(
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        vocab_size=151936,
        tie_word_embeddings=True,
    )
    assert ModelShape.from_config(config).params() == QWEN_05B.params()


def reward_recipe() -> Recipe:
    stage = {
        "name": "reward", "kind": "reward", "data": "r.jsonl", "backbone": "policy", "likelihood": ["truthfulness"],
        "batch_size": 4, "max_length": 128,
    }  # fmt: skip
    return recipe({"r": 16}, stage)


def test_reward_stage_counts_training_and_likelihood_scoring_as_phases_not_a_sum():
    # The gpu_smoke reward row on an H200 measured 9.33 GiB where the old sum estimated 13.2: the likelihood LM
    # scores only after training has freed its gradients and AdamW state.
    r = reward_recipe()
    parts = estimate_stage(r, r.stages[0], QWEN_05B, GPU, reward_shape=QWEN_05B, likelihood_shape=QWEN_05B).parts
    # Training phase: fp32 weights, grads + two AdamW moments (12 bytes), activations of 8 rows x 128 tokens in
    # fp32 without checkpointing: 24 layers x 1024 tokens x (4864 + 21248) elements.
    assert parts == {
        "weights": 494_032_768 * 4,
        "grads+optimizer": 494_032_768 * 12,
        "activations": 24 * 1024 * (4864 + 21248) * 4,
        "cuda workspaces": 2 * 32 * 2**20,
    }
    assert sum(parts.values()) == 10_538_547_200  # 9.81 GiB


def test_reward_stage_with_a_big_likelihood_lm_is_sized_by_the_scoring_phase():
    small = ModelShape(hidden=384, layers=6, heads=12, kv_heads=12, intermediate=1536, vocab=30522)
    r = reward_recipe()
    parts = estimate_stage(r, r.stages[0], QWEN_05B, GPU, reward_shape=small, likelihood_shape=QWEN_7B).parts
    # The backbone's fp32 weights stay; the 7B LM in bf16 scores 32 texts of 128 tokens, and its bf16 logits
    # are copied to fp32 on the device: 2 + 4 bytes per logit.
    assert parts == {
        "weights": small.params() * 4,
        "likelihood weights": 7_615_616_512 * 2,
        "likelihood logits": 32 * 128 * 152064 * 6,
        "cuda workspaces": 2 * 32 * 2**20,
    }


def test_an_unreadable_model_config_stops_the_memory_check_in_one_line(tmp_path):
    from align.memory.check import shape_from_config
    from align.runtime.errors import AlignError

    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(
        AlignError, match=rf"^{tmp_path}: cannot read its config for the memory check \(.*--force skips"
    ):
        shape_from_config(str(tmp_path))
    assert shape_from_config(str(tmp_path), force=True) is None  # --force: today's warning, then no estimate


def grpo_recipe(rewards: dict) -> Recipe:
    # Without prompt selection the peak is the training step, which the scoring LMs add to.
    stage = {
        "name": "grpo", "kind": "grpo", "prompts": "p.jsonl", "rewards": rewards, "max_completion_length": 128,
        "prompt_selection": {"enabled": False},
    }  # fmt: skip
    return recipe({"r": 16}, stage)


def test_reference_source_lms_are_counted_once_per_distinct_model():
    from align.memory.check import _reference_shapes

    plain = grpo_recipe({"conciseness": {"source": "rule"}})
    referenced = grpo_recipe(
        {
            "truthfulness": {"source": "reference", "column": "chosen"},  # the policy's base model
            "helpfulness": {"source": "reference", "column": "chosen", "model": "policy"},  # the same LM, loaded once
            "relevance": {"source": "reference", "column": "fact", "model": "big"},
        }
    )
    shapes = _reference_shapes(referenced.stages[0], QWEN_05B, {"big": QWEN_7B}.get)
    assert sorted(s.params() for s in shapes) == [QWEN_05B.params(), QWEN_7B.params()]
    assert _reference_shapes(referenced.stages[0], QWEN_05B, lambda name: None) == [QWEN_05B]  # unknown: left out
    assert _reference_shapes(plain.stages[0], QWEN_05B, {"big": QWEN_7B}.get) == []

    base = estimate_stage(plain, plain.stages[0], QWEN_05B, GPU).parts
    parts = estimate_stage(referenced, referenced.stages[0], QWEN_05B, GPU, reference_shapes=shapes).parts
    # Both LMs in bf16, each scoring 16 rows padded to the source's 1024-token cut, bf16 logits copied to fp32.
    assert parts["reference LM weights"] == (494_032_768 + 7_615_616_512) * 2
    assert parts["reference LM logits"] == 16 * 1024 * (151936 + 152064) * 6
    assert {k: v for k, v in parts.items() if not k.startswith("reference LM")} == base
