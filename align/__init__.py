"""align: post-training for LLMs after the Qwen2.5 recipe (SFT → rejection-sampled DPO → GRPO)."""

__version__ = "0.1.0"
