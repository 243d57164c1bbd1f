"""Speed options of the trainer stages, resolved to TRL config keys in one place.

The stages and benchmarks/ call these same functions, so a benchmark's "align" arm is what a recipe runs.
"""

from __future__ import annotations

import importlib.util


def liger_available() -> bool:
    import torch

    # Liger's kernels are Triton: CUDA only.
    return torch.cuda.is_available() and importlib.util.find_spec("liger_kernel") is not None


def sft_speed(pad_token_id: int, padding_free: bool = False, liger: bool | None = None) -> tuple[dict, dict]:
    """(SFTConfig keys, SFTTrainer keys).

    padding_free: a batch's rows are concatenated into one sequence with per-row
    position ids instead of padded (transformers turns the position ids into a block-diagonal mask, so no row
    attends to another); nothing is computed for padding. It is TRL's own padding-free collator, passed in
    directly: TRL's `padding_free=True` would also stop truncating rows to max_length. liger: Liger's fused
    RMSNorm, RoPE and SwiGLU kernels; TRL already computes the loss through a chunked LM head, so Liger's fused
    cross-entropy stays off. Opt-in (None = off): on an H200 (liger-kernel 0.8.5, torch 2.11, Qwen2.5-1.5B shape,
    8K tokens) it measured 0.85x stock tokens/s (benchmarks/sft.py), so it is not worth turning on by default.

    padding_free is off by default: with SDPA the block-diagonal mask replaces the causal fast path, and it
    measured 3x slower than padding on CPU (benchmarks/sft.py --quick); it pays with FlashAttention's varlen
    kernels (`attn_implementation="flash_attention_2"`), which align does not install.
    """
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    config = {"use_liger_kernel": bool(liger)}
    trainer = {"data_collator": DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)}
    return config, trainer if padding_free else {}


def dpo_speed_kwargs(precompute_ref: bool = True, batch_size: int = 1, liger: bool | None = None) -> dict:
    """DPOConfig keys. precompute_ref: the reference is the frozen starting adapter, so its log-probs on the pairs
    never change; TRL computes them once before training (exact) instead of one extra forward per step."""
    return {
        "precompute_ref_log_probs": precompute_ref,
        # Reference passes need no activations for backward: a larger batch only costs forward memory.
        "precompute_ref_batch_size": 4 * batch_size,
        "use_liger_kernel": liger_available() if liger is None else liger,
    }
