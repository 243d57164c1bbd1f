"""Sampling completions from a policy (base model + adapter): HF generate, or vLLM when installed."""
