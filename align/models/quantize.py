"""QLoRA loading: the frozen base in bitsandbytes NF4, refused in one line where bitsandbytes cannot run."""

from __future__ import annotations

import importlib.util
from typing import Any

from align.runtime.errors import AlignError

INSTALL = "pip install bitsandbytes"


def require_4bit(gpus: int | None = None) -> None:
    """Raise the one-line reason `lora.quantize: 4bit` cannot work here (no GPU, or no bitsandbytes)."""
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus == 0:
        raise AlignError(
            "lora.quantize: '4bit' needs a CUDA GPU (bitsandbytes NF4 kernels); none is visible — "
            "remove lora.quantize to train the full-precision base"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise AlignError(f"lora.quantize: '4bit' needs the bitsandbytes package; install it with: {INSTALL}")


def quantization_kwargs(quantize: str | None, compute_dtype: Any, device: str) -> dict[str, Any]:
    """from_pretrained keyword arguments for the base: NF4 with double quantisation, computing in `compute_dtype`."""
    if quantize is None:
        return {}
    require_4bit()
    import torch
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        # fp32 compute would undo the point of QLoRA; the weights are 4-bit either way.
        bnb_4bit_compute_dtype=torch.bfloat16 if compute_dtype == torch.float32 else compute_dtype,
    )
    # bitsandbytes quantises while loading onto the GPU: the model cannot be moved there afterwards.
    return {"quantization_config": config, "device_map": {"": device}}
