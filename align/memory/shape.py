"""The few numbers of a decoder-only transformer that decide its memory: sizes, not weights.

Read from a transformers config (`ModelShape.from_config`) or written down in a preset, so a 72B model's
memory can be estimated without downloading a byte of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Linear layers of one decoder layer, as PEFT names them for Qwen2/Llama; "all-linear" adapts all of them.
ATTENTION_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_LINEARS = ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied_embeddings: bool = False
    head_dim: int | None = None  # None = hidden // heads
    qkv_bias: bool = True  # Qwen2 has biases on q/k/v
    qk_norm: bool = False  # Qwen3 normalises each head's queries and keys (one head_dim-wide weight each)
    # Mixture of experts (0 experts = dense): every expert is a gated MLP of `expert_intermediate`;
    # `shared_intermediate` is Qwen2-MoE's always-on shared expert (0 = none, as in Qwen3-MoE).
    experts: int = 0
    experts_per_token: int = 0
    expert_intermediate: int = 0
    shared_intermediate: int = 0
    # How PEFT 0.21 adapts Qwen3-MoE (peft/utils/transformers_weight_conversion.py): LoRA on the router too, and
    # twice the rank on the fused gate_up experts tensor, so that gate and up each keep rank r.
    peft_moe_conversion: bool = False

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def q_dim(self) -> int:
        return self.heads * self.dim_head

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.dim_head

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    def linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each nn.Linear in one layer, by PEFT module name (experts are not nn.Linear)."""
        shapes = {
            "q_proj": (self.hidden, self.q_dim),
            "k_proj": (self.hidden, self.kv_dim),
            "v_proj": (self.hidden, self.kv_dim),
            "o_proj": (self.q_dim, self.hidden),
        }
        mlp = self.shared_intermediate if self.is_moe else self.intermediate
        if mlp:
            shapes |= {"gate_proj": (self.hidden, mlp), "up_proj": (self.hidden, mlp), "down_proj": (mlp, self.hidden)}
        if self.shared_intermediate:  # Qwen2-MoE's one-output gate on the shared expert
            shapes["shared_expert_gate"] = (self.hidden, 1)
        return shapes

    def adapted(self, targets: list[str] | str) -> dict[str, tuple[int, int]]:
        """The linears a LoRA `target_modules` value adapts in one layer."""
        linears = self.linears()
        return linears if targets == "all-linear" else {n: s for n, s in linears.items() if n in targets}

    def linear_params(self) -> int:
        """Weights of one layer's nn.Linear modules (what 4-bit quantisation packs)."""
        return sum(i * o for i, o in self.linears().values())

    def expert_params(self) -> int:
        """One layer's expert weights (fused 3-D tensors: gate+up and down per expert), plus the router."""
        if not self.is_moe:
            return 0
        return self.experts * 3 * self.hidden * self.expert_intermediate + self.hidden * self.experts  # + router

    def layer_params(self) -> int:
        bias = (self.q_dim + 2 * self.kv_dim) if self.qkv_bias else 0
        norms = 2 * self.hidden + (2 * self.dim_head if self.qk_norm else 0)
        return self.linear_params() + self.expert_params() + bias + norms

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    def params(self) -> int:
        return self.layers * self.layer_params() + self.embedding_params() + self.hidden

    def lora_params(self, r: int, targets: list[str] | str, expert_lora: bool = False) -> int:
        """Trainable LoRA parameters: r * (in + out) per adapted linear, per layer; with `expert_lora`, one
        r-rank update per fused expert tensor (PEFT target_parameters: A is r x in, B is out x r, per expert)."""
        chosen = self.adapted(targets)
        per_layer = sum(r * (i + o) for i, o in chosen.values())
        if expert_lora and self.is_moe:
            gate_up = self.hidden + 2 * self.expert_intermediate
            down = self.expert_intermediate + self.hidden
            fused = 2 if self.peft_moe_conversion else 1
            per_layer += self.experts * r * (fused * gate_up + down)
            per_layer += r * (self.hidden + self.experts) if self.peft_moe_conversion else 0
        return self.layers * per_layer

    def kv_bytes_per_token(self, dtype_bytes: float) -> float:
        return 2 * self.layers * self.kv_dim * dtype_bytes

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        """From a transformers PretrainedConfig (Qwen2, Qwen2-MoE, Qwen3, Qwen3-MoE, Llama and alike)."""
        text = getattr(config, "text_config", None) or config
        experts = getattr(text, "num_experts", None) or getattr(text, "num_local_experts", None) or 0
        return cls(
            hidden=text.hidden_size,
            layers=text.num_hidden_layers,
            heads=text.num_attention_heads,
            kv_heads=getattr(text, "num_key_value_heads", None) or text.num_attention_heads,
            intermediate=getattr(text, "intermediate_size", 0) or 0,
            vocab=text.vocab_size,
            tied_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
            head_dim=getattr(text, "head_dim", None),
            qkv_bias=_qkv_bias(text),
            qk_norm=text.model_type in ("qwen3", "qwen3_moe"),
            experts=int(experts),
            experts_per_token=int(getattr(text, "num_experts_per_tok", 0) or 0),
            expert_intermediate=int(getattr(text, "moe_intermediate_size", 0) or 0),
            shared_intermediate=int(getattr(text, "shared_expert_intermediate_size", 0) or 0),
            peft_moe_conversion=text.model_type == "qwen3_moe",
        )


def _qkv_bias(text: Any) -> bool:
    # Qwen2 hard-codes biases on q/k/v; Qwen2-MoE says so in `qkv_bias`, Qwen3 and Llama in `attention_bias`.
    if text.model_type == "qwen2":
        return True
    return bool(getattr(text, "qkv_bias", False) or getattr(text, "attention_bias", False))
