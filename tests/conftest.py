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


@pytest.fixture
def train_sft():
    """`train_sft(tmp_path, model, chat_file, steps=3)`: a finished SFT stage folder with a non-trivial adapter."""
    return _train_sft


@pytest.fixture
def logits_gap():
    """`logits_gap(base, stage_dir, merged_dir)`: (max |merged - base+adapter|, max |base+adapter - base|)."""
    return _logits_gap
