"""The adapter a stage starts from (`init`), and the trainable policy built on it.

`init` (read by the rule in align.config.init_ref) is an earlier stage's artifact, an adapter folder, a hub
adapter, or nothing. With nothing, DPO and GRPO train a fresh LoRA adapter of the recipe's `lora` on the recipe's
model; their reference is then the base model: TRL's frozen copy of a fresh adapter adds exactly zero (LoRA's B
starts at zero), the same rule as for any init — the reference is the policy the stage started from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from align.config.init_ref import ADAPTER_CONFIG, init_kind, read_adapter_config
from align.models.load import load_policy, lora_config
from align.runtime.context import StageContext
from align.runtime.errors import AlignError, first_line

log = logging.getLogger(__name__)

# Only what PEFT loads: a hub adapter repository may also hold checkpoints, tokenizers or a whole model.
HUB_ADAPTER_FILES = [ADAPTER_CONFIG, "adapter_model.safetensors", "adapter_model.bin"]


def init_adapter(ctx: StageContext, init: str | None) -> Path | None:
    """The folder of the adapter the stage starts from, or None for a fresh one (or, sampling, the base model).

    An adapter from outside the run is described in the manifest's notes (where it came from, the model it says
    it was trained on); its hash or hub name is already among the manifest's inputs."""
    kind = init_kind(init)
    if init is None or kind == "fresh":
        return None
    if kind == "stage":
        return ctx.artifact(init)
    folder = Path(init) if kind == "folder" else _download(ctx, init)
    trained_on = read_adapter_config(folder).get("base_model_name_or_path")
    ctx.notes["init_adapter"] = {"source": kind, "folder": str(folder), "base_model": trained_on}
    if kind == "hub":
        ctx.notes["init_adapter"]["revision"] = folder.name
    if not same_model(trained_on, ctx.recipe.model, ctx.base_model):
        # Warned, not refused: the field holds whatever name or path the adapter's trainer had (a folder on
        # another machine, a mirror), so a differing string often means the same weights; a base it truly does
        # not fit fails at load, with one line (trainable_policy).
        log.warning(
            "stages.%s.init: adapter %s says it was trained on '%s', not the recipe's model '%s'; using it anyway",
            ctx.stage.name,
            init,
            trained_on,
            ctx.recipe.model,
        )
        ctx.notes["init_adapter"]["base_model_differs"] = True
    return folder


def same_model(trained_on: str | None, model: str, location: str) -> bool:
    """Whether an adapter's base_model_name_or_path can name the recipe's model (as written, or where it loads
    from): equal, or with the same last path component (a hub name and its local copy). Unknown counts as same."""
    if not trained_on:
        return True

    def tail(name: str) -> str:
        return Path(name.rstrip("/")).name.lower()

    return trained_on in (model, location) or tail(trained_on) in (tail(model), tail(location))


def trainable_policy(ctx: StageContext, adapter: Path | None, precision: str) -> Any:
    """The recipe's model with `adapter` loaded to keep training, or with a fresh LoRA adapter when it is None."""
    try:
        model = load_policy(
            ctx.base_model,
            precision,
            adapter=adapter,
            trainable=True,
            quantize=ctx.recipe.lora.quantize,
            options=ctx.recipe.model_options,
        )
    except RuntimeError as err:
        # PEFT's state-dict load reports an adapter made for another model as one size mismatch per weight.
        mismatch = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), None)
        if adapter is None or mismatch is None:
            raise
        raise AlignError(
            f"stages.{ctx.stage.name}.init: adapter {adapter} does not fit the recipe's model "
            f"'{ctx.recipe.model}': {mismatch}"
        ) from None
    if adapter is None:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(ctx.recipe.lora))
    return model


def _download(ctx: StageContext, name: str) -> Path:
    """A hub adapter's files, through the Hugging Face cache (what PeftModel.from_pretrained(base, name) fetches),
    as a local folder every loader (PEFT, the HF sampler, vLLM) reads the same way. The folder is named by the
    repository's commit."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(name, allow_patterns=HUB_ADAPTER_FILES))
    except Exception as err:  # offline, no such repository, no access: all one line
        raise AlignError(
            f"stages.{ctx.stage.name}.init: cannot fetch hub adapter '{name}': {first_line(err)} "
            "(offline? give an adapter folder instead)"
        ) from None
    if not (folder / ADAPTER_CONFIG).is_file():
        raise AlignError(f"stages.{ctx.stage.name}.init: hub repository '{name}' has no {ADAPTER_CONFIG}")
    return folder
