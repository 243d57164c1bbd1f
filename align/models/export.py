"""`align export RUN/STAGE --out DIR`: merge a stage's LoRA adapter into its base model and save what users deploy.

The folder holds safetensors weights, the tokenizer, the generation config and a model card (recipe, data,
the stage's metrics and its row of the run's evaluation table); plain transformers and vLLM load it as any
model. The merge runs in fp32 and the result is saved in the base's own dtype (or `--dtype`), so the merged
model computes what base + adapter computed, up to that dtype's rounding. A run trained with
`lora.quantize: 4bit` learned its adapter on the NF4 weights, so those are dequantised first and the adapter
is merged into exactly the weights it was trained against.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from align.artifacts.contract import ADAPTER_KINDS, Manifest, is_complete, read_manifest
from align.runtime.errors import AlignError, first_line

log = logging.getLogger(__name__)
DTYPES = ("auto", "fp32", "bf16", "fp16")


def stage_manifest(stage_dir: Path) -> Manifest:
    manifest = read_manifest(stage_dir) if is_complete(stage_dir) else None
    if manifest is None:
        raise AlignError(f"{stage_dir}: not a completed stage folder (no COMPLETE marker); run the stage first")
    if manifest.kind not in ADAPTER_KINDS or manifest.base_model_location is None:
        raise AlignError(
            f"{stage_dir}: a {manifest.kind} stage has no adapter to merge; export one of: {', '.join(ADAPTER_KINDS)}"
        )
    return manifest


def merged_model(stage_dir: Path, manifest: Manifest):
    """Base + the stage's adapter, merged, in fp32 (dequantised from NF4 when the run trained on 4-bit)."""
    import torch
    from peft import PeftModel

    from align.config.schema import ModelOptions
    from align.models.load import load_base_model

    location = str(manifest.base_model_location)
    # YaRN changes the config the adapter was trained under; the attention kernel does not travel.
    options = ModelOptions(rope_scaling=manifest.model_options.get("rope_scaling"))
    if manifest.lora.get("quantize") == "4bit":
        base = load_base_model(location, "bf16", quantize="4bit", options=options)
        base = base.dequantize().to(torch.float32)
    else:
        base = load_base_model(location, "fp32", device="cpu", options=options)
    return PeftModel.from_pretrained(base, str(stage_dir)).merge_and_unload()


def save_dtype(choice: str, location: str):
    import torch
    from transformers import AutoConfig

    from align.models.load import torch_dtype

    if choice != "auto":
        return torch_dtype(choice)
    dtype = getattr(AutoConfig.from_pretrained(location), "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def export(stage_dir: Path, out: Path, dtype: str = "auto", push_to_hub: str | None = None) -> Path:
    from transformers import AutoTokenizer, GenerationConfig

    stage_dir = stage_dir.resolve()
    manifest = stage_manifest(stage_dir)
    if out.exists() and any(out.iterdir()):
        raise AlignError(f"--out {out}: folder exists and is not empty; choose a new folder")
    location = str(manifest.base_model_location)
    model = merged_model(stage_dir, manifest)
    model = model.to(save_dtype(dtype, location))
    # A quantisation config copied from a 4-bit base would make loaders expect packed weights.
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(stage_dir).save_pretrained(out)
    try:
        GenerationConfig.from_pretrained(location).save_pretrained(out)
    except OSError:
        log.info("no generation_config.json beside %s; the model's defaults were saved", location)
    (out / "README.md").write_text(model_card(stage_dir, manifest))
    log.info("exported %s (%s) to %s", stage_dir.name, manifest.kind, out)
    if push_to_hub:
        _push(out, push_to_hub)
    return out


def _push(folder: Path, repo: str) -> None:
    from huggingface_hub import HfApi

    try:
        api = HfApi()
        api.create_repo(repo, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo)
    except Exception as err:  # the hub client raises many types; each becomes one line
        raise AlignError(f"--push-to-hub {repo}: {first_line(err)}") from None


def model_card(stage_dir: Path, manifest: Manifest) -> str:
    """Recipe, data, metrics and the run's evaluation of this stage (and the base), as markdown."""
    name = stage_dir.name
    lines = [
        f"# {manifest.base_model or 'model'} + align `{name}` ({manifest.kind})",
        "",
        f"Merged with `align export` from run `{stage_dir.parent.name}`, stage `{name}`: the LoRA adapter "
        f"({_lora(manifest)}) merged into `{manifest.base_model}`.",
        "",
        "## Recipe of this stage",
        "",
        "```json",
        json.dumps(manifest.config, indent=2),
        "```",
        "",
        "## Data",
        "",
        *[f"- `{key}`: {value}" for key, value in manifest.inputs.items()],
        "",
        "## Training metrics",
        "",
        *[f"- {key}: {value}" for key, value in manifest.metrics.items() if not isinstance(value, dict)],
        "",
    ]
    lines += _eval_table(stage_dir.parent / "eval.json", name)
    lines += ["", f"align {manifest.align_version or ''}, git {manifest.git_sha or 'unknown'}", ""]
    return "\n".join(lines)


def _lora(manifest: Manifest) -> str:
    return ", ".join(f"{k}={v}" for k, v in manifest.lora.items())


def _eval_table(path: Path, stage: str) -> list[str]:
    if not path.is_file():
        return ["## Evaluation", "", f"No evaluation in the run folder (run `align eval {path.parent}`)."]
    models = json.loads(path.read_text()).get("models", {})
    rows = [(n, models[n]) for n in ("base", stage) if n in models]
    if not rows:
        return ["## Evaluation", "", f"`{path}` has no results for `{stage}`."]
    lines = ["## Evaluation", "", "| model | suite | metric | value |", "|---|---|---|---|"]
    for model_name, entry in rows:
        for suite, result in (entry.get("suites") or {}).items():
            for metric, value in (result or {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    lines.append(f"| {model_name} | {suite} | {metric} | {value:.4g} |")
    return lines
