"""A Qwen2.5-shaped model with random weights and a small BPE tokenizer, built offline in seconds.

Speed and memory do not depend on weight values, so benchmarks and the GPU smoke test need no download. One
twist makes the pipeline meaningful on a random model: its LM head is steered so that every sampled token is
" 1" or " 2" with equal probability. A math prompt whose answer is 1 or 2 is then solved by about half of the
samples — the verifier passes some and fails others, so pair building finds pairs and GRPO groups have reward
variance, exactly as with a real model of middling skill.
"""

from __future__ import annotations

from pathlib import Path

# Qwen2.5 dense shapes (config.json of each Qwen/Qwen2.5-*-Instruct), and a tiny one for CPU runs.
SHAPES: dict[str, dict[str, int | bool]] = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128, vocab_size=0),
    "qwen2.5-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                         intermediate_size=4864, vocab_size=151936),
    "qwen2.5-1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                         intermediate_size=8960, vocab_size=151936),
}  # fmt: skip

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
STEERED = (" 1", " 2")


def _corpus() -> list[str]:
    words = [
        "what",
        "is",
        "the",
        "answer",
        "sum",
        "of",
        "plus",
        "minus",
        "times",
        "apples",
        "how",
        "many",
        "has",
        "gives",
        "left",
        "put",
        "final",
        "in",
        "boxed",
    ]
    lines = [f"What is {a} + {b}? The answer is {a + b}." for a in range(10) for b in range(10)]
    lines += [" ".join(words)] * 20 + [" 1 2 1 2 2 1"] * 50
    return lines


def build_tokenizer(vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    for text in STEERED:
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) != 1:
            raise RuntimeError(f"tokenizer: {text!r} is not one token")
    return tokenizer


def build(folder: Path, shape: str = "qwen2.5-0.5b", dtype: str = "bf16", device: str = "cpu") -> Path:
    """Write a random Qwen2 model and its tokenizer to `folder` (skipped when already there)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if (folder / "config.json").is_file():
        return folder
    tokenizer = build_tokenizer()
    sizes = dict(SHAPES[shape])
    if not sizes["vocab_size"]:
        sizes["vocab_size"] = len(tokenizer)
    config = Qwen2Config(
        **sizes,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        # Untied so the head can be steered without changing the input embeddings' token meaning.
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    steer(model, [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(t))[0] for t in STEERED])
    model.to({"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def steer(model, token_ids: list[int]) -> None:
    """Make the favoured tokens the only likely ones, equally likely, whatever the context.

    A constant of 100 added to hidden dimension 0 of every input embedding outweighs what random layers add to
    the residual stream (~0.5 per dimension per layer), so after the final norm that dimension is large and
    positive (~8 for the tiny shape, ~24 for 0.5B). Head rows that read only dimension 0 give the favoured tokens
    equal logits of 3x that; every other row is zero, so any other token is e^-24 or less as likely.
    """
    import torch

    with torch.no_grad():
        model.get_input_embeddings().weight[:, 0] += 100.0
        head = model.get_output_embeddings().weight
        head.zero_()
        head[token_ids, 0] = 3.0
