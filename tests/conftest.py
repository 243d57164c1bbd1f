"""Shared fixtures: the real offline default model, and a tiny random model with its tokenizer built offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def builtin_model() -> str:
    """The converted SmolLM2-135M-Instruct folder (converted once per cache dir)."""
    from align.config.schema import BUILTIN_MODEL
    from align.models.load import resolve_model

    return resolve_model(BUILTIN_MODEL)


def tiny_llama(tokenizer, **overrides):
    """The LlamaConfig of every tiny test model: 2 layers of width 32 over `tokenizer`'s vocabulary."""
    from transformers import LlamaConfig

    settings = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 512,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    return LlamaConfig(**(settings | overrides))


@pytest.fixture(scope="session")
def tiny_model(builtin_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer random Llama with the real tokenizer: real code paths, seconds per test instead of minutes."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model)
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_llama(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


# Logit scale of the digit model: anything it is not meant to say is e^-40 as likely (~1e-13 over the vocabulary).
DIGIT_LOGIT = 20.0
# "2" sits this far below "1": greedy decoding never meets a tie that float noise could break either way.
DIGIT_TIE_BREAK = 0.1


@pytest.fixture(scope="session")
def digit_model(builtin_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny Llama whose every sampled answer is "1" or "2" and then end-of-turn, "1" with probability
    1 / (1 + e^-0.1) = 0.525 whatever the prompt, the random stream or the sampler.

    Asked for 1 or 2, about half of its samples pass: a group of 4 is all-pass or all-fail with probability
    0.525^4 + 0.475^4 = 0.13, so six prompts leave pair building with no pair (or GRPO's prompt selection with
    no varied group) with probability 0.13^6 = 4e-6 - by construction, not by the luck of one seed.

    How: attention and MLP outputs are zero, so the last hidden state is the last token's embedding. Embedding
    dimension 0 is large for the digits, dimension 1 for every other token, and the head reads only those two:
    after a digit end-of-turn is e^40 times likelier than anything else; after any other token (the prompt's
    last one, "\n") "1" and "2" are. The embeddings' other dimensions stay random (a reward model on this
    backbone still tells texts apart, and the digits' logits do not move: the head ignores those dimensions).
    LoRA still trains it: the adapters' updates reach the zeroed projections, so losses move, while small
    updates leave the answers' law close to the above.
    """
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("digit-llama")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model)
    torch.manual_seed(0)
    model = LlamaForCausalLM(tiny_llama(tokenizer, tie_word_embeddings=False))
    one, two = tokenizer.convert_tokens_to_ids(["1", "2"])
    size = model.config.hidden_size
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.embed_tokens.weight
        embed[:, :2] = 0.0
        embed[[one, two], 0] = 10.0
        embed[[i for i in range(len(embed)) if i not in (one, two)], 1] = 10.0
        # After the final RMSNorm the hidden state is ~sqrt(size) along the token's dimension (0 or 1).
        unit = DIGIT_LOGIT / size**0.5
        head = model.lm_head.weight
        head.zero_()
        head[:, :2] = -unit  # everything unlikely after anything...
        head[tokenizer.eos_token_id, 0] = unit  # ...but end-of-turn after a digit
        head[one, 1] = unit  # and a digit after anything else
        head[two, 1] = unit * (1 - DIGIT_TIE_BREAK / DIGIT_LOGIT)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    rows = [
        {
            "prompt": f"What is {a} + {b}?",
            "completion": f"{a} + {b} = {a + b}. The answer is \\boxed{{{a + b}}}.",
        }
        for a in range(1, 5)
        for b in range(1, 5)
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def tiny_classifier(builtin_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random 2-layer Llama sequence classifier with three named outputs (an ArmoRM-style multi-objective
    reward model in miniature) and the real tokenizer, whose chat template formats the pair."""
    import torch
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-classifier")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model)
    labels = ["helpfulness", "honesty", "verbosity"]
    config = tiny_llama(
        tokenizer,
        max_position_embeddings=1024,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(0)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def judge_server():
    """A stand-in OpenAI-compatible server on 127.0.0.1 (a free port): it rates a response by its word count
    (1 + words, at most 10), answers "I cannot tell." when the response holds '???', and records every request."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": "stand-in-judge", "object": "model"}]})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": "not found"})
                return
            text = body["messages"][-1]["content"]
            response = text.split("RESPONSE:\n", 1)[1].split("\n\nHow well", 1)[0]
            reply = "I cannot tell." if "???" in response else f"Rating: {min(10, 1 + len(response.split()))}"
            self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/v1", "requests": requests}
    server.shutdown()
    server.server_close()


def _train_sft(tmp_path: Path, model: str, chat_file: Path, steps: int = 3) -> Path:
    import yaml

    from align.cli import main

    recipe = tmp_path / "sft.yaml"
    stage = {
        "name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": steps, "batch_size": 4,
        "max_length": 64, "learning_rate": 5e-3, "report_to": [],
    }  # fmt: skip
    recipe.write_text(
        yaml.safe_dump({"model": model, "lora": {"r": 8, "alpha": 16, "dropout": 0.0}, "stages": [stage]})
    )
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run")]) == 0
    return tmp_path / "run" / "sft"


def _logits_gap(base: str, stage_dir: Path, merged_dir: Path) -> tuple[float, float]:
    """(max |merged - base+adapter|, max |base+adapter - base|) over a prompt's logits."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 3 + 4?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    with torch.no_grad():
        plain = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
        base_logits = plain(ids).logits
        adapted = PeftModel.from_pretrained(plain, str(stage_dir)).eval()(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()(ids).logits
    return (merged - adapted).abs().max().item(), (adapted - base_logits).abs().max().item()


def _sft_pairs_stages(data: Path, prompts: Path, *, sft: dict | None = None, pairs: dict | None = None) -> list[dict]:
    """An sft stage on `data`, then pairs sampled from it on `prompts` (math verifier, HF sampling, T = 1)."""
    return [
        {"name": "sft", "kind": "sft", "data": str(data), "report_to": [], **(sft or {})},
        {
            "name": "pairs", "kind": "pairs", "init": "sft", "prompts": str(prompts), "verifier": "math",
            "temperature": 1.0, "backend": "hf", **(pairs or {}),
        },
    ]  # fmt: skip


@pytest.fixture
def sft_pairs_stages():
    """`sft_pairs_stages(data, prompts, sft={...}, pairs={...})`: the two stage dicts, overrides merged in."""
    return _sft_pairs_stages


@pytest.fixture
def train_sft():
    """`train_sft(tmp_path, model, chat_file, steps=3)`: a finished SFT stage folder with a non-trivial adapter."""
    return _train_sft


@pytest.fixture
def logits_gap():
    """`logits_gap(base, stage_dir, merged_dir)`: (max |merged - base+adapter|, max |base+adapter - base|)."""
    return _logits_gap


class WordTokenizer:
    """Whitespace tokens: enough to test a token budget (tool outputs) without a model."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[str]]:
        return {"input_ids": text.split(" ")}

    def decode(self, ids: list[str]) -> str:
        return " ".join(ids)


@pytest.fixture
def word_tokenizer() -> WordTokenizer:
    return WordTokenizer()
