"""How much accelerator memory a stage needs, from the model's shape and the stage's settings, before loading.

Every term is a product of sizes that can be checked by hand (tests do, for two configurations), and compared
with `torch.cuda.max_memory_allocated` (benchmarks/gpu_smoke.py prints both). The figures are what PyTorch
allocates; the CUDA context (~0.5 GiB) and allocator fragmentation come on top, which is why the fit check
keeps a margin (align.memory.check).

Assumptions, each matching how align runs the stage with TRL 1.16:
- LoRA adapters are fp32 (PEFT upcasts them), so each trainable parameter costs 4 (weight) + 4 (grad) + 8
  (AdamW's two moments) bytes; on a 4-bit base TRL casts them to bf16: 2 + 2 + 4 bytes.
- 4-bit weights are bitsandbytes NF4 with double quantisation: 0.5 byte per weight, plus one 8-bit absmax per
  64 weights and one fp32 per 256 absmax blocks. Embeddings, the LM head and norms stay in the compute dtype.
- TRL scores tokens with a fused, chunked LM head (trl/kernels/chunked_logprob.py): the logits of a whole
  sequence are never materialised; the head's workspace is one tile of 4,096 tokens x 32,768 vocabulary entries in
  the compute dtype (its `mm_buf`) plus the fp32 gradient of the final hidden states.
- Activations saved per token per decoder layer (SDPA/flash attention: no T x T scores; eager adds them):
  attention 2H (norm in/out) + q + 2kv (projections) + q + kv (rotary outputs) + q (attention output);
  MLP 2H + 4I (gate, up, activation, product); for MoE the routed experts count k times their I, plus the
  router logits. Each LoRA-adapted linear saves r, and its own copy of its input whenever that input is a new
  tensor: after dropout, or after PEFT casts it to the fp32 adapter's dtype and autocast casts it back (the
  frozen base linear saves nothing: torch keeps a matmul's input only for the weight's gradient); dropout also
  keeps its mask, one byte an element.
  Gradient checkpointing keeps only each layer's input (H per token per layer), plus one layer recomputed
  during backward and four H-wide gradient buffers.
  Checked against measured peaks: tests/unit/test_memory_measured.py lists each row, its source and the
  command that measures it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from align.memory.shape import ModelShape

GIB = 1 << 30
DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
NF4_BYTES_PER_WEIGHT = 0.5 + 1 / 64 + 4 / (64 * 256)
LORA_TRAIN_BYTES = 4 + 4 + 8  # fp32 weight, fp32 grad, AdamW exp_avg + exp_avg_sq
QLORA_TRAIN_BYTES = 2 + 2 + 4  # TRL casts QLoRA adapters to bf16; AdamW's moments follow the parameter dtype
FULL_TRAIN_EXTRA_BYTES = 4 + 8  # full fine-tuning in fp32: grad + AdamW moments on top of the fp32 weight
HEAD_TOKEN_TILE = 4096
HEAD_VOCAB_TILE = 32768


@dataclass(frozen=True)
class Estimate:
    """Bytes per named part; `total` is their sum. Parts are kept so a refusal can say what is big."""

    parts: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def gib(self) -> float:
        return self.total / GIB

    def describe(self) -> str:
        """The parts, largest first, in GiB (MiB for a small model, so the CPU run's table says something)."""
        unit, scale = ("GiB", GIB) if self.total >= GIB else ("MiB", 1 << 20)
        big = sorted(self.parts.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {value / scale:.2f}" for name, value in big if value >= 0.005 * scale) + f" {unit}"

    def __add__(self, other: Estimate) -> Estimate:
        merged = dict(self.parts)
        for name, value in other.parts.items():
            merged[name] = merged.get(name, 0) + value
        return Estimate(merged)


def weight_bytes(shape: ModelShape, precision: str, quantize: str | None = None) -> float:
    """The model's weights: all in the compute dtype, or NF4 for the layers' nn.Linear weights."""
    dtype = DTYPE_BYTES[precision]
    if quantize != "4bit":
        return shape.params() * dtype
    packed = shape.layers * shape.linear_params()
    return packed * NF4_BYTES_PER_WEIGHT + (shape.params() - packed) * dtype


@dataclass(frozen=True)
class Adapter:
    """What the estimate needs to know of a LoRA adapter."""

    r: int
    targets: list[str] | str = "all-linear"
    dropout: bool = True
    experts: bool = False  # also on a MoE's fused expert tensors (target_parameters)
    quantized_base: bool = False  # QLoRA: TRL casts the adapter to bf16 (else PEFT keeps it in fp32)


def layer_activation_bytes(shape: ModelShape, precision: str, adapter: Adapter | None = None) -> float:
    """Bytes saved for backward per token in one decoder layer (see the module docstring)."""
    hidden, q, kv = shape.hidden, shape.q_dim, shape.kv_dim
    attention = 2 * hidden + (q + 2 * kv) + (q + kv) + q
    # MoE: the router logits, and k routed experts plus the shared one per token.
    mlp = 2 * hidden + 4 * mlp_width(shape) + shape.experts
    dtype = DTYPE_BYTES[precision]
    saved = (attention + mlp) * dtype
    if adapter is not None:
        # An fp32 adapter on a half-precision base gets a cast copy of its input even without dropout.
        copies = adapter.dropout or (not adapter.quantized_base and dtype < 4)
        for in_features, _ in shape.adapted(adapter.targets).values():
            saved += (
                adapter.r * dtype + (in_features * dtype if copies else 0) + (in_features if adapter.dropout else 0)
            )
    return saved


def activation_bytes(
    shape: ModelShape,
    *,
    sequences: int,
    length: int,
    precision: str,
    checkpointing: bool,
    adapter: Adapter | None = None,
    eager_attention: bool = False,
) -> float:
    """Saved activations of one forward+backward over `sequences` rows of `length` tokens."""
    dtype = DTYPE_BYTES[precision]
    tokens = sequences * length
    one_layer = tokens * layer_activation_bytes(shape, precision, adapter)
    if eager_attention:
        # Eager attention keeps the T x T scores and their softmax per head.
        one_layer += 2 * sequences * shape.heads * length * length * dtype
    if checkpointing:
        return shape.layers * tokens * shape.hidden * dtype + one_layer + 4 * tokens * shape.hidden * dtype
    return shape.layers * one_layer


def head_bytes(shape: ModelShape, tokens: int, precision: str) -> float:
    """TRL's fused chunked log-prob head: one tile in the compute dtype and the fp32 gradient of the final hidden
    states."""
    tile = min(tokens, HEAD_TOKEN_TILE) * min(shape.vocab, HEAD_VOCAB_TILE) * DTYPE_BYTES[precision]
    return tile + tokens * shape.hidden * 4


def kv_cache_bytes(shape: ModelShape, *, sequences: int, length: int, precision: str) -> float:
    """Keys and values of `sequences` rows of `length` tokens (HF generate's dynamic cache grows to this)."""
    return sequences * length * shape.kv_bytes_per_token(DTYPE_BYTES[precision])


def lora_training(shape: ModelShape, adapter: Adapter) -> float:
    per_param = QLORA_TRAIN_BYTES if adapter.quantized_base else LORA_TRAIN_BYTES
    return shape.lora_params(adapter.r, adapter.targets, adapter.experts) * per_param


def lora_training_parts(
    shape: ModelShape,
    *,
    precision: str,
    quantize: str | None,
    adapter: Adapter,
    sequences: int,
    length: int,
    checkpointing: bool,
    eager_attention: bool = False,
) -> Estimate:
    """A LoRA policy in training: base weights, adapter with grads and AdamW, activations, LM-head workspace."""
    return Estimate(
        {
            "weights": weight_bytes(shape, precision, quantize),
            "lora+optimizer": lora_training(shape, adapter),
            "activations": activation_bytes(
                shape,
                sequences=sequences,
                length=length,
                precision=precision,
                checkpointing=checkpointing,
                adapter=adapter,
                eager_attention=eager_attention,
            ),
            "lm_head": head_bytes(shape, sequences * length, precision),
        }
    )


def full_training_parts(shape: ModelShape, *, sequences: int, length: int, checkpointing: bool = False) -> Estimate:
    """Every weight trained in fp32 with AdamW (the reward model's backbone), with its activations."""
    return Estimate(
        {
            "weights": weight_bytes(shape, "fp32"),
            "grads+optimizer": shape.params() * FULL_TRAIN_EXTRA_BYTES,
            "activations": activation_bytes(
                shape, sequences=sequences, length=length, precision="fp32", checkpointing=checkpointing
            ),
        }
    )


def sampling_parts(
    shape: ModelShape,
    *,
    precision: str,
    quantize: str | None,
    rows: int,
    group: int,
    prompt_tokens: int,
    new_tokens: int,
    scaled: bool,
    label: str,
) -> Estimate:
    """A model decoding `rows` sequences together, `group` samples per prompt (align.generation.decode):
    - its weights;
    - the KV cache twice over: repeating a prompt's cache for its samples, or dropping finished rows, builds the
      new cache before the old one is freed (align.generation.kv_cache);
    - each step's logits over the whole vocabulary: the model's output in the compute dtype, its fp32 upcast, the
      log-sum-exp's temporary, and the temperature-scaled copy when `scaled` (align.generation.nucleus);
    - the prefill: the rows' prompts (`rows // group` of them) through one layer at a time."""
    dtype = DTYPE_BYTES[precision]
    prefill_tokens = max(1, rows // group) * prompt_tokens
    layer = 2 * shape.hidden + shape.q_dim + 2 * shape.kv_dim + 3 * mlp_width(shape)
    length = prompt_tokens + new_tokens
    return Estimate(
        {
            f"{label} weights": weight_bytes(shape, precision, quantize),
            f"{label} kv cache": 2 * kv_cache_bytes(shape, sequences=rows, length=length, precision=precision),
            f"{label} logits": rows * shape.vocab * (dtype + (3 if scaled else 2) * 4),
            f"{label} prefill": prefill_tokens * layer * dtype,
        }
    )


def mlp_width(shape: ModelShape) -> int:
    """Intermediate features one token activates in an MLP: the dense width, or k experts plus the shared one."""
    if shape.is_moe:
        return shape.experts_per_token * shape.expert_intermediate + shape.shared_intermediate
    return shape.intermediate
