"""Before a stage loads anything: estimate its GPU memory, log it, and refuse in one line when it cannot fit.

A 72B model takes many minutes to load; an out-of-memory error after that teaches nothing. The refusal names
the stage, the estimate's big parts and the free memory, and says what to change; `--force` tries anyway (the
estimate is deliberately simple and may be pessimistic for unusual data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from align.config.presets import get_preset
from align.config.schema import GRPOStage, PairsStage, Recipe, RewardStage, StageBase
from align.memory.advice import Fix, fixes
from align.memory.estimate import GIB, Estimate
from align.memory.shape import ModelShape
from align.memory.stages import POLICY_STAGES, Settings, estimate_stage
from align.runtime.errors import AlignError, first_line

log = logging.getLogger(__name__)

# The CUDA context and allocator fragmentation: what max_memory_allocated does not count (the estimate counts the
# cuBLAS workspaces, which PyTorch allocates through its caching allocator).
MARGIN_BYTES = 1 * GIB
REFERENCE_GPU_BYTES = 80 * 10**9  # what `align validate` sizes stages for: one 80 GB GPU
PROMPT_SAMPLE_ROWS = 512
DEFAULT_PROMPT_TOKENS = 512


def check_fit(estimate: Estimate, free_bytes: float, stage: str, device: str) -> None:
    """Raise the one-line refusal when the estimate plus the margin exceeds the free memory."""
    if estimate.total + MARGIN_BYTES <= free_bytes:
        return
    raise AlignError(
        f"stages.{stage}: needs ~{estimate.gib():.1f} GiB of GPU memory ({estimate.describe()}) but {device} has "
        f"{free_bytes / GIB:.1f} GiB free; lower batch_size or max_length, turn on gradient_checkpointing, set "
        "lora.quantize: 4bit, or pick a smaller --preset (--force tries anyway)"
    )


def model_shape(recipe: Recipe, location: str, force: bool = False) -> ModelShape | None:
    """The policy's shape: the preset's when the recipe uses one, else from the config (see shape_from_config)."""
    if recipe.preset is not None:
        preset = get_preset(recipe.preset)
        if preset.model == recipe.model:
            return preset.shape
    return shape_from_config(location, force)


def shape_from_config(location: str, force: bool = False) -> ModelShape | None:
    """The model's shape from its config. Unreadable, it is one error naming the model (a check skipped with
    only a warning would let a model that cannot fit load for minutes first); with `force`, a warning and None."""
    from transformers import AutoConfig

    try:
        return ModelShape.from_config(AutoConfig.from_pretrained(location))
    except (OSError, ValueError, AttributeError) as err:
        if not force:
            raise AlignError(
                f"{location}: cannot read its config for the memory check ({first_line(err)}); --force skips the check"
            ) from None
        log.warning("memory estimate skipped: cannot read the config of %s (%s)", location, err)
        return None


def _prompt_tokens(stage: StageBase, location: str) -> int:
    """The longest of the first prompts, in tokens, for stages that sample; a default when unreadable."""
    if not isinstance(stage, PairsStage | GRPOStage):
        return DEFAULT_PROMPT_TOKENS
    from align.data.load import load_prompts
    from align.data.prompt_sources import load_prompt_sources
    from align.generation.vllm_settings import longest_prompt
    from align.models.load import load_tokenizer

    try:
        # Several sources: dealt as the stage deals them, so the first rows sample every source.
        prompts = (
            load_prompt_sources(stage.prompts, None, stage.name)[0]
            if isinstance(stage.prompts, list)
            else load_prompts(stage.prompts, required=())
        )
        rows = prompts.select(range(min(len(prompts), PROMPT_SAMPLE_ROWS)))["prompt"]
        return longest_prompt(load_tokenizer(location), rows) or DEFAULT_PROMPT_TOKENS
    except (AlignError, OSError, ValueError) as err:
        log.warning("memory estimate: prompt lengths unknown (%s); assuming %d tokens", err, DEFAULT_PROMPT_TOKENS)
        return DEFAULT_PROMPT_TOKENS


def _reward_shapes(stage: RewardStage, shape: ModelShape, location: str, force: bool):
    from align.stages.reward_model import resolve_backbone, resolve_likelihood_model

    # 'policy' is the LM without its head: the same shape with the embedding counted once.
    backbone = (
        replace(shape, tied_embeddings=True)
        if stage.backbone == "policy"
        else shape_from_config(resolve_backbone(stage.backbone, location), force)
    )
    likelihood = shape if stage.likelihood_model == "policy" else None
    if likelihood is None and stage.lm_dimensions:
        likelihood = shape_from_config(resolve_likelihood_model(stage.likelihood_model, location), force)
    return backbone, likelihood


def _reference_shapes(
    stage: StageBase, shape: ModelShape, locate: Callable[[str], ModelShape | None]
) -> list[ModelShape]:
    """The LMs a GRPO stage's `reference` rewards load, one per distinct model: 'policy' is the policy's shape,
    any other is what `locate` makes of its name (None: not known, left out)."""
    if not isinstance(stage, GRPOStage):
        return []
    models = {spec.model or "policy" for spec in stage.rewards.values() if spec.source == "reference"}
    shapes = [shape if model == "policy" else locate(model) for model in sorted(models)]
    return [found for found in shapes if found is not None]


def _config_shape(model: str, force: bool) -> ModelShape | None:
    from align.models.load import resolve_model

    return shape_from_config(resolve_model(model), force)


def _local_shape(model: str) -> ModelShape | None:
    """A model's shape where its config is on disk; `align validate` never downloads one to describe a stage, and
    only describes: an unreadable config is no estimate, not a refusal."""
    return shape_from_config(model, force=True) if (Path(model) / "config.json").is_file() else None


def preflight(recipe: Recipe, stage: StageBase, location: str, force: bool = False) -> Estimate | None:
    """Refuse 4-bit where bitsandbytes cannot run; on a GPU, estimate the stage and refuse when it cannot fit."""
    from align.models.quantize import require_4bit
    from align.runtime.devices import current_placement

    placement = current_placement()
    if recipe.lora.quantize and isinstance(stage, POLICY_STAGES):
        require_4bit(0 if not placement.on_gpu else None)
    if not placement.on_gpu:
        return None
    shape = model_shape(recipe, location, force)
    if shape is None:
        return None
    import torch

    from align.generation.backend import resolve_backend

    device = torch.device(placement.policy)
    free, total = torch.cuda.mem_get_info(device)
    backend = stage.backend if isinstance(stage, PairsStage | GRPOStage) else "hf"
    settings = Settings(
        precision=placement.precision,
        on_gpu=True,
        device_bytes=total,
        vllm=resolve_backend(backend) == "vllm",
        vllm_share=recipe.vllm.gpu_memory_utilization,
        prompt_tokens=_prompt_tokens(stage, location),
    )
    reward_shape = likelihood_shape = None
    if isinstance(stage, RewardStage):
        reward_shape, likelihood_shape = _reward_shapes(stage, shape, location, force)
        if reward_shape is None:
            return None
    references = _reference_shapes(stage, shape, partial(_config_shape, force=force))
    estimate = estimate_stage(recipe, stage, shape, settings, reward_shape, likelihood_shape, references)
    log.info(
        "stage %s: estimated GPU memory %.1f GiB (%s); %s has %.1f of %.1f GiB free",
        stage.name,
        estimate.gib(),
        estimate.describe(),
        placement.policy,
        free / GIB,
        total / GIB,
    )
    if not force:
        check_fit(estimate, free, stage.name, placement.policy)
    return estimate


@dataclass(frozen=True)
class StageMemory:
    """One stage's line in `align validate`: its estimate, whether it fits, and if not, what would."""

    name: str
    estimate: Estimate
    fits: bool
    fixes: list[Fix]


def describe_offline(recipe: Recipe, device_bytes: float = REFERENCE_GPU_BYTES) -> list[StageMemory] | None:
    """Per-stage estimates for `align validate`, when the shape is known without a download (a preset or a
    local model folder) — on a reference 80 GB GPU in bf16, with HF sampling — and for each stage that would not
    fit, the single changes that would make it fit."""
    shape = model_shape(recipe, recipe.model, force=True) if recipe.preset is not None else _local_shape(recipe.model)
    if shape is None:
        return None
    settings = Settings(precision="bf16", on_gpu=True, device_bytes=device_bytes)
    budget = device_bytes - MARGIN_BYTES
    rows = []
    for stage in recipe.stages:
        reward_shape = replace(shape, tied_embeddings=True) if isinstance(stage, RewardStage) else None
        if isinstance(stage, RewardStage) and stage.backbone != "policy":
            continue  # an encoder backbone's config is not at hand offline; it is small anyway
        references = _reference_shapes(stage, shape, _local_shape)
        estimate = partial(
            _offline, shape=shape, settings=settings, reward_shape=reward_shape, reference_shapes=references
        )
        need = estimate(recipe, stage)
        fits = need.total <= budget
        rows.append(StageMemory(stage.name, need, fits, [] if fits else fixes(recipe, stage, estimate, budget)))
    return rows


def _offline(
    recipe: Recipe,
    stage: StageBase,
    *,
    shape: ModelShape,
    settings: Settings,
    reward_shape: ModelShape | None,
    reference_shapes: list[ModelShape],
) -> Estimate:
    return estimate_stage(recipe, stage, shape, settings, reward_shape, reference_shapes=reference_shapes)
