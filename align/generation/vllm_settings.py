"""vLLM engine arguments from the recipe's `vllm` block and the stage's lengths: a pure function, tested on CPU.

The context (`max_model_len`) follows the stage instead of a fixed 4096, so 8K-token SFT policies sample their
long answers; the GPU share, tensor parallelism, sleep mode and 4-bit loading come from the recipe.
"""

from __future__ import annotations

from typing import Any

from align.config.schema import VLLMSpec

# Chat templates and special tokens add a few tokens the prompt measurement may not see; round up to a
# multiple of this so a slightly longer prompt does not hit the limit.
LENGTH_QUANTUM = 256


def model_len(prompt_tokens: int, new_tokens: int) -> int:
    """The engine context for prompts of up to `prompt_tokens` followed by `new_tokens` generated tokens."""
    need = prompt_tokens + new_tokens + 16
    return -(-need // LENGTH_QUANTUM) * LENGTH_QUANTUM


def engine_args(spec: VLLMSpec, *, on_gpu: bool, quantize: str | None, max_model_len: int) -> dict[str, Any]:
    """Keyword arguments for `vllm.LLM` beyond model/dtype/LoRA, for one GPU or the CPU build."""
    args: dict[str, Any] = {"max_model_len": spec.max_model_len or max_model_len}
    if not on_gpu:
        return args
    args |= {
        # vLLM reserves this fraction of device memory for weights and KV cache; training shares the rest.
        "gpu_memory_utilization": spec.gpu_memory_utilization,
        "tensor_parallel_size": spec.tensor_parallel_size,
        "enable_sleep_mode": spec.sleep_mode,
    }
    if quantize == "4bit":
        # The policy trains on an NF4 base; vLLM samples from the same quantised weights.
        args["quantization"] = "bitsandbytes"
    return args


def longest_prompt(tokenizer, prompts: list[list[dict[str, str]]]) -> int:
    """Tokens of the longest chat prompt, rendered with the generation prompt as the sampler will."""
    if not prompts:
        return 0
    # One conversation per call: transformers 5.17 reads a list of conversations as one conversation and fails
    # in the template ("'list object' has no attribute 'role'", seen on the GPU smoke run).
    return max(
        len(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=False))
        for p in prompts
    )
