"""A stage's memory estimate on the device it trains on, from the recipe alone (no model is loaded).

Each stage kind adds up the models it holds at its peak (align.memory.estimate has the terms):
- sft: the LoRA policy training on `batch_size` rows of `max_length` tokens;
- dpo: the same on 2 x `batch_size` rows (chosen and rejected go through one forward);
- pairs: the sampling policy and the KV cache of one generate batch (32 rows of prompt + `max_new_tokens`),
  or vLLM's reserved share of the GPU;
- reward: the larger of its two phases, which never overlap: the reward backbone trained fully in fp32 on
  2 x `batch_size` texts, then (its gradients and AdamW state freed) the backbone's weights beside the
  likelihood LM scoring a batch of 32 texts (its full logits: an ordinary forward, not TRL's fused head);
- grpo: the larger of prompt selection (a sampler) and training (the LoRA policy on `batch_size` rows of
  prompt + completion per pass — by default all prompts_per_step x num_generations — the KV cache of generating
  a step's rows, and the reward models it scores with, a `reference` source's LMs included), plus vLLM's share
  when vLLM samples.
`prompt_tokens` is the longest prompt in tokens; callers that have the data measure it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from align.config.schema import (
    DPOStage,
    GRPOStage,
    PairsStage,
    Recipe,
    RewardStage,
    SFTStage,
    StageBase,
)
from align.generation.backend import HF_BATCH_CPU, HF_BATCH_GPU
from align.memory.estimate import (
    DTYPE_BYTES,
    Adapter,
    Estimate,
    full_training_parts,
    kv_cache_bytes,
    lora_training_parts,
    sampling_parts,
    weight_bytes,
)
from align.memory.shape import ModelShape
from reward import REFERENCE_BATCH, REFERENCE_MAX_LENGTH

# PyTorch allocates each (thread, stream)'s cuBLAS workspace through its caching allocator, so
# max_memory_allocated counts it: 32 MiB on Hopper (NVIDIA's recommendation, PyTorch's default there) for the
# thread running the forward and for autograd's device thread running the backward. They live as long as the
# process, so a stage also carries those of the stages before it.
CUDA_WORKSPACES = 2 * 32 * 2**20
LIKELIHOOD_BATCH = 32  # reward evaluation scores likelihood texts in batches of max(batch_size, 32)
POLICY_STAGES = (SFTStage, PairsStage, DPOStage, GRPOStage)  # the stages that load the policy (4-bit with QLoRA)


@dataclass(frozen=True)
class Settings:
    """Run-time facts the estimate depends on: resolved precision, checkpointing default, vLLM's share."""

    precision: str  # resolved: fp32 | bf16 | fp16
    on_gpu: bool
    device_bytes: float = 0.0  # total memory of the training GPU (vLLM reserves a share of it)
    vllm: bool = False
    vllm_share: float = 0.35
    prompt_tokens: int = 512


def _precision(stage: StageBase, settings: Settings) -> str:
    choice = getattr(stage, "precision", "auto")
    return settings.precision if choice == "auto" else choice


def _checkpointing(stage: StageBase, settings: Settings) -> bool:
    choice = getattr(stage, "gradient_checkpointing", None)
    return settings.on_gpu if choice is None else bool(choice)


def _policy_training(recipe: Recipe, stage, shape: ModelShape, settings: Settings, sequences: int, length: int):
    return lora_training_parts(
        shape,
        precision=_precision(stage, settings),
        quantize=recipe.lora.quantize,
        adapter=adapter(recipe),
        sequences=sequences,
        length=length,
        checkpointing=_checkpointing(stage, settings),
        eager_attention=getattr(stage, "attn_implementation", None) == "eager",
    )


def adapter(recipe: Recipe) -> Adapter:
    lora = recipe.lora
    experts, quantized = bool(lora.target_parameters), lora.quantize is not None
    return Adapter(lora.r, lora.target_modules, lora.dropout > 0, experts=experts, quantized_base=quantized)


def _sampler(
    recipe: Recipe, shape: ModelShape, settings: Settings, stage: PairsStage | GRPOStage, group: int, precision: str
) -> Estimate:
    if settings.vllm:
        return Estimate({"vllm share": settings.vllm_share * settings.device_bytes})
    return sampling_parts(
        shape,
        precision=precision,
        quantize=recipe.lora.quantize,
        rows=stage.sample_batch or (HF_BATCH_GPU if settings.on_gpu else HF_BATCH_CPU),
        group=group,
        prompt_tokens=settings.prompt_tokens,
        new_tokens=stage.max_new_tokens if isinstance(stage, PairsStage) else stage.max_completion_length,
        scaled=stage.temperature != 1.0,
        label="sampler",
    )


def _reference_adapter(recipe: Recipe, shape: ModelShape) -> Estimate:
    """TRL's frozen "ref" copy of the starting adapter (weights only: no gradient, no optimiser state)."""
    lora = adapter(recipe)
    per_param = 2 if lora.quantized_base else 4  # TRL casts QLoRA adapters to bf16
    return Estimate({"ref adapter": shape.lora_params(lora.r, lora.targets, lora.experts) * per_param})


def estimate_stage(
    recipe: Recipe,
    stage: StageBase,
    shape: ModelShape,
    settings: Settings,
    reward_shape: ModelShape | None = None,
    likelihood_shape: ModelShape | None = None,
    reference_shapes: Sequence[ModelShape] = (),
) -> Estimate:
    """Peak bytes on the training device. `reward_shape`/`likelihood_shape`: the reward stage's backbone and
    likelihood LM (default: the policy's shape, i.e. backbone 'policy'); `reference_shapes`: the LMs a GRPO
    stage's `reference` rewards load, one per distinct model."""
    parts = _models(recipe, stage, shape, settings, reward_shape, likelihood_shape, reference_shapes)
    return parts + Estimate({"cuda workspaces": CUDA_WORKSPACES}) if settings.on_gpu else parts


def _models(
    recipe: Recipe,
    stage: StageBase,
    shape: ModelShape,
    settings: Settings,
    reward_shape: ModelShape | None,
    likelihood_shape: ModelShape | None,
    reference_shapes: Sequence[ModelShape],
) -> Estimate:
    if isinstance(stage, SFTStage):
        return _policy_training(recipe, stage, shape, settings, stage.batch_size, stage.max_length)
    if isinstance(stage, DPOStage):
        training = _policy_training(recipe, stage, shape, settings, 2 * stage.batch_size, stage.max_length)
        return training + _reference_adapter(recipe, shape)
    if isinstance(stage, PairsStage):
        return _sampler(recipe, shape, settings, stage, stage.k, settings.precision)
    if isinstance(stage, RewardStage):
        backbone = reward_shape or shape
        training = full_training_parts(backbone, sequences=2 * stage.batch_size, length=stage.max_length)
        if not stage.lm_dimensions:
            return training
        scoring = Estimate({"weights": training.parts["weights"]}) + likelihood_parts(
            likelihood_shape or shape, settings.precision, stage.max_length
        )
        return training if training.total >= scoring.total else scoring
    if isinstance(stage, GRPOStage):
        return _grpo(recipe, stage, shape, settings, reward_shape, likelihood_shape, reference_shapes)
    raise TypeError(f"no memory estimate for {type(stage).__name__}")


def _lm_dimensions(recipe: Recipe, reward: str | None) -> set[str]:
    """The dimensions the reward model scores with its LM: its stage's `likelihood` and `pmi`, or the defaults
    for a reward model trained elsewhere."""
    stage = next((s for s in recipe.stages if s.name == reward and isinstance(s, RewardStage)), None)
    return stage.lm_dimensions if stage else set(RewardStage.model_fields["likelihood"].default)


def likelihood_parts(
    shape: ModelShape, precision: str, length: int, batch: int = LIKELIHOOD_BATCH, name: str = "likelihood"
) -> Estimate:
    """A likelihood LM scoring one batch: weights and the batch's logits, which the scorer copies to fp32
    on the device before moving them to the CPU (both copies are alive at once in half precision)."""
    copies = 4 if DTYPE_BYTES[precision] == 4 else DTYPE_BYTES[precision] + 4
    return Estimate(
        {f"{name} weights": weight_bytes(shape, precision), f"{name} logits": batch * length * shape.vocab * copies}
    )


def _grpo(
    recipe: Recipe,
    stage: GRPOStage,
    shape: ModelShape,
    settings: Settings,
    reward_shape: ModelShape | None,
    likelihood_shape: ModelShape | None,
    reference_shapes: Sequence[ModelShape],
) -> Estimate:
    length = settings.prompt_tokens + stage.max_completion_length
    precision = _precision(stage, settings)
    training = _policy_training(recipe, stage, shape, settings, stage.rows_per_pass, length)
    if not settings.vllm:
        # TRL generates with the training model; its cache is freed before the training forward, but the
        # optimiser state and weights are resident during both, so the larger of the two transient terms counts.
        cache = kv_cache_bytes(shape, sequences=stage.rows_per_step, length=length, precision=precision)
        transient = max(training.parts["activations"] + training.parts["lm_head"], cache)
        training = Estimate(
            {k: v for k, v in training.parts.items() if k not in ("activations", "lm_head")}
            | {"activations or kv cache": transient}
        )
    uses_model = stage.reward is not None and any(s.source == "model" for s in stage.rewards.values())
    if uses_model and reward_shape is not None:
        training = training + Estimate({"reward weights": weight_bytes(reward_shape, "fp32")})
    scored_by_lm = _lm_dimensions(recipe, stage.reward)
    if uses_model and any(name in scored_by_lm for name, s in stage.rewards.items() if s.source == "model"):
        training = training + likelihood_parts(likelihood_shape or shape, precision, length)
    for lm in reference_shapes:
        # Rows are cut to REFERENCE_MAX_LENGTH, and a batch pads to its longest: the bound, not the typical row.
        training = training + likelihood_parts(lm, precision, REFERENCE_MAX_LENGTH, REFERENCE_BATCH, "reference LM")
    if stage.beta > 0:
        training = training + _reference_adapter(recipe, shape)
    if settings.vllm:
        return training + _sampler(recipe, shape, settings, stage, stage.num_generations, precision)
    if stage.prompt_selection.enabled:
        group = stage.prompt_selection.num_generations or stage.num_generations
        selection = _sampler(recipe, shape, settings, stage, group, precision)
        return training if training.total >= selection.total else selection
    return training
