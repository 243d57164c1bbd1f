"""GRPO with `rollouts: {mode: server}`: the wiring to a vLLM OpenAI-compatible server, without vLLM.

The server here speaks the endpoints align uses (`/v1/load_lora_adapter`, `/v1/unload_lora_adapter`,
`/v1/completions` with token-id prompts, `logprobs` and `return_tokens_as_token_ids`), refuses a name it holds as
vLLM does, and answers with the tiny model and the very adapter folders the trainer saved, sampled by HF
`generate`. The same test against a real `vllm serve` is in tests/integration/test_vllm_server.py (marked `vllm`).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from align.config.load import load_recipe
from align.runner import run_recipe


class TinyOpenAIServer:
    """Loads adapters by name and samples completions from them, as `vllm serve --enable-lora` does."""

    def __init__(self, base_model: str) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.base_model = base_model
        self.tokenizer = AutoTokenizer.from_pretrained(base_model)
        self.models: dict[str, object] = {}
        self.loads: list[tuple[str, str]] = []
        self.adapter_files: list[bool] = []  # whether each folder held an adapter when the server was told to load it
        self.step_folders: list[list[str]] = []  # the rollout-adapter/step-* folders on disk at each load
        self.unloads: list[str] = []
        self.requests: list[dict] = []
        self.models[base_model] = AutoModelForCausalLM.from_pretrained(base_model)
        handler = self._handler()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def load(self, name: str, folder: str) -> None:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        self.adapter_files.append(Path(folder, "adapter_model.safetensors").is_file())
        self.step_folders.append(sorted(p.name for p in Path(folder).parent.glob("step-*")))
        base = AutoModelForCausalLM.from_pretrained(self.base_model)
        self.models[name] = PeftModel.from_pretrained(base, folder).merge_and_unload()
        self.loads.append((name, folder))

    def complete(self, payload: dict) -> dict:
        import torch

        self.requests.append(payload)
        model = self.models[payload["model"]]
        n, eos = payload["n"], self.tokenizer.eos_token_id
        choices = []
        for i, ids in enumerate(payload["prompt"]):
            out = model.generate(
                torch.tensor([ids]),
                do_sample=True,
                temperature=payload["temperature"],
                top_p=payload["top_p"],
                top_k=None,
                max_new_tokens=payload["max_tokens"],
                num_return_sequences=n,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=self.tokenizer.pad_token_id,
            )
            scores = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
            for j in range(n):
                new = out.sequences[j, len(ids) :].tolist()
                length = new.index(eos) + 1 if eos in new else len(new)
                choices.append(
                    {
                        "index": i * n + j,
                        "logprobs": {
                            "tokens": [f"token_id:{t}" for t in new[:length]],
                            "token_logprobs": scores[j, :length].tolist(),
                        },
                    }
                )
        return {"choices": choices[::-1]}  # any order: align sorts by index

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, body = 200, b"Success"
                if self.path == "/v1/load_lora_adapter" and payload["lora_name"] in server.models:
                    status, body = 400, b"The lora adapter has already been loaded."  # as vLLM refuses it
                elif self.path == "/v1/load_lora_adapter":
                    server.load(payload["lora_name"], payload["lora_path"])
                elif self.path == "/v1/unload_lora_adapter":
                    del server.models[payload["lora_name"]]
                    server.unloads.append(payload["lora_name"])
                else:
                    body = json.dumps(server.complete(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.http.shutdown()


def server_recipe(tmp_path: Path, model: str, chat_file: Path, port: int) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"What is {a} + 2?"}) + "\n" for a in range(4)))
    recipe = {
        "model": model,
        "lora": {"r": 4, "alpha": 8},
        "stages": [
            {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 1, "batch_size": 2,
             "max_length": 64, "report_to": []},
            {"name": "grpo", "kind": "grpo", "init": "sft", "prompts": str(prompts),
             "rewards": {"conciseness": {"source": "rule", "budget": 4}}, "prompt_selection": {"enabled": False},
             "num_generations": 4, "prompts_per_step": 1, "max_completion_length": 12, "max_steps": 3,
             "learning_rate": 1e-2, "backend": "hf", "report_to": [],
             "rollouts": {"mode": "server", "host": "127.0.0.1", "port": port}},
        ],
    }  # fmt: skip
    path = tmp_path / "server.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_grpo_samples_from_the_server_with_the_adapter_of_each_step(tmp_path: Path, tiny_model: str, chat_file):
    server = TinyOpenAIServer(tiny_model)
    recipe = load_recipe(server_recipe(tmp_path, tiny_model, chat_file, server.port))
    try:
        run_recipe(recipe, tmp_path / "run")
        first = [name for name, _ in server.loads]
        # The server outlives the run: a second run against it must not collide with the names the first loaded.
        run_recipe(recipe, tmp_path / "rerun")
    finally:
        server.close()
    metrics = json.loads((tmp_path / "run" / "grpo" / "manifest.json").read_text())["metrics"]
    assert metrics["rollout_backend"] == "server"
    # One adapter version per optimiser step, each loaded under its own name before that step's sampling.
    names = [name for name, _ in server.loads]
    tag = first[0].split("-")[1]
    assert first == [f"grpo-{tag}-step-{step}" for step in range(3)]
    assert len(names) == 6 and not set(names[3:]) & set(first)
    assert all(server.adapter_files)
    assert [r["model"] for r in server.requests] == names
    # A replaced version is unloaded from the server, so a long run does not pile up names there.
    assert server.unloads == first[:2] + names[3:5]
    assert metrics["adapter_syncs"] == 3 and metrics["rollout_completions"] == 3 * 4
    # The prompts went as token ids of the chat template, one per group; the server sampled n per prompt.
    assert all(len(r["prompt"]) == 1 and r["n"] == 4 and r["max_tokens"] == 12 for r in server.requests)
    # Only the version in use and keep_rollout_adapters (1) before it are on disk at any load; none at the end.
    assert server.step_folders == [["step-0"], ["step-0", "step-1"], ["step-1", "step-2"]] * 2  # each run
    grpo = tmp_path / "run" / "grpo"
    assert not (grpo / "rollout-adapter").exists()
    manifest = json.loads((grpo / "manifest.json").read_text())
    # The footprint the manifest reports is the folder as the stage left it: all of it but the manifest and the
    # marker written after it, plus the small running.json the marker replaces.
    left = sum(p.stat().st_size for p in grpo.rglob("*") if p.is_file() and p.name not in {"manifest.json", "COMPLETE"})
    assert left < manifest["disk_bytes"] < left + 1024


def test_no_server_is_one_line_naming_the_address_and_the_command():
    from align.config.schema import RolloutSpec
    from align.runtime.errors import AlignError
    from align.runtime.launch import free_port
    from align.stages.grpo.rollouts.server import Server

    port = free_port()
    with pytest.raises(AlignError, match=rf"no vLLM server at http://127.0.0.1:{port} .*vllm serve"):
        Server(RolloutSpec(mode="server", port=port, timeout_s=5)).load_adapter("a", "/nowhere")
