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
    from align.models import resolve_model

    return resolve_model(BUILTIN_MODEL)


@pytest.fixture(scope="session")
def tiny_model(builtin_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer random Llama with the real tokenizer: real code paths, seconds per test instead of minutes."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def digit_model(builtin_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random Llama that can only say "1", "2", " " or stop: its answers to "the answer is 1" prompts pass
    and fail by chance, so pair building and GRPO get mixed groups from a model that takes seconds to run."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("digit-llama")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    allowed = {tokenizer.convert_tokens_to_ids(t) for t in ("1", "2", "Ġ")} | {tokenizer.eos_token_id}
    model.generation_config.suppress_tokens = [i for i in range(len(tokenizer)) if i not in allowed]
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
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-classifier")
    tokenizer = AutoTokenizer.from_pretrained(builtin_model)
    labels = ["helpfulness", "honesty", "verbosity"]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        pad_token_id=tokenizer.pad_token_id,
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
