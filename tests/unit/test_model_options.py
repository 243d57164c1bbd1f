"""Attention kernel choice, YaRN applied to the loaded config, and vLLM engine settings from the recipe."""

from __future__ import annotations

import pytest
import torch

from align.config.schema import ModelOptions, RopeScalingSpec, VLLMSpec
from align.generation.vllm_settings import engine_args, model_len
from align.models.load import load_base_model
from align.models.options import attention_for, scaled_rope


@pytest.mark.parametrize(
    ("choice", "gpu", "precision", "flash", "expected"),
    [
        ("auto", True, "bf16", True, "flash_attention_2"),
        ("auto", True, "bf16", False, "sdpa"),
        ("auto", True, "fp32", True, "sdpa"),  # flash-attn has no fp32 kernels
        ("auto", False, "bf16", True, "sdpa"),
        ("eager", True, "bf16", True, "eager"),
    ],
)
def test_attention_choice(choice, gpu, precision, flash, expected):
    assert attention_for(choice, gpu, precision, flash_installed=flash) == expected


def test_yarn_parameters_stretch_the_context():
    rope, positions = scaled_rope({"rope_theta": 1e6, "rope_type": "default"}, 32768, RopeScalingSpec(factor=4.0))
    assert rope == {"rope_theta": 1e6, "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    assert positions == 131072


def test_yarn_reaches_the_loaded_model(tiny_model: str):
    plain = load_base_model(tiny_model, "fp32")
    options = ModelOptions(rope_scaling=RopeScalingSpec(factor=4.0))
    scaled = load_base_model(tiny_model, "fp32", options=options)
    assert scaled.config.rope_parameters["rope_type"] == "yarn"
    assert scaled.config.max_position_embeddings == 4 * plain.config.max_position_embeddings
    # The rotary module was built from the scaled config: YaRN lowers the frequencies and scales attention.
    plain_rotary, scaled_rotary = plain.model.rotary_emb, scaled.model.rotary_emb
    assert scaled_rotary.attention_scaling > 1.0 == plain_rotary.attention_scaling
    assert not torch.allclose(plain_rotary.inv_freq, scaled_rotary.inv_freq)
    ids = torch.arange(1, 200)[None]
    assert not torch.allclose(plain(ids).logits, scaled(ids).logits)


def test_attention_option_reaches_the_loaded_model(tiny_model: str):
    model = load_base_model(tiny_model, "fp32", options=ModelOptions(attn_implementation="eager"))
    assert model.config._attn_implementation == "eager"
    assert load_base_model(tiny_model, "fp32").config._attn_implementation == "sdpa"


def test_vllm_context_fits_prompt_and_completion_beyond_8k():
    assert model_len(700, 8192) == 8960  # 700 + 8192 + 16 = 8908, rounded up to 35 x 256
    args = engine_args(VLLMSpec(), on_gpu=True, quantize=None, max_model_len=model_len(700, 8192))
    assert args["max_model_len"] == 8960


def test_vllm_gpu_settings_come_from_the_recipe():
    spec = VLLMSpec(gpu_memory_utilization=0.5, tensor_parallel_size=2, sleep_mode=True)
    args = engine_args(spec, on_gpu=True, quantize="4bit", max_model_len=4096)
    assert args == {
        "max_model_len": 4096,
        "gpu_memory_utilization": 0.5,
        "tensor_parallel_size": 2,
        "enable_sleep_mode": True,
        "quantization": "bitsandbytes",
    }
    assert engine_args(VLLMSpec(max_model_len=2048), on_gpu=False, quantize=None, max_model_len=9000) == {
        "max_model_len": 2048
    }


def test_gradient_checkpointing_accepts_auto_and_keeps_old_fingerprints():
    from align.config.schema import SFTStage

    auto = SFTStage(name="s", kind="sft", data="x.jsonl", gradient_checkpointing="auto")
    assert auto.gradient_checkpointing is None
    assert auto == SFTStage(name="s", kind="sft", data="x.jsonl")
    assert SFTStage(name="s", kind="sft", data="x.jsonl", gradient_checkpointing=False).gradient_checkpointing is False


def test_longest_prompt_renders_each_conversation_with_the_generation_prompt(tiny_model: str) -> None:
    from transformers import AutoTokenizer

    from align.generation.vllm_settings import longest_prompt

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    prompts = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2 + 2?"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Seven times eight, plus one?"}],
    ]
    lengths = [
        len(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=False))
        for p in prompts
    ]
    assert lengths[0] < lengths[1]
    assert longest_prompt(tokenizer, prompts) == lengths[1]
    assert longest_prompt(tokenizer, prompts[:1]) == lengths[0]
    assert longest_prompt(tokenizer, []) == 0
