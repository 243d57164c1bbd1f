"""Where a judge's replies come from: a local HF causal LM, or an OpenAI-compatible chat endpoint.

Both take a batch of chat conversations and return one reply text each, greedy (temperature 0): a judge that
answers differently each time makes a noisy reward.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Messages = list[dict[str, str]]

# The local judge's reply is started for it: small models that ramble before a number mostly give one this way.
# An endpoint cannot be prefilled portably, so there the parser does that work.
PREFILL = "Rating:"


class LocalJudge:
    """A causal LM loaded with transformers (a folder or hub name), batched greedy generation."""

    def __init__(self, location: str, device: str = "cpu", batch_size: int = 8, max_new_tokens: int = 8) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = location
        self.device = device
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(location, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype).eval()
        torch.nn.Module.to(self.model, device)  # in place; the bound `.to` is typed for dtypes and strings only

    def complete(self, conversations: Sequence[Messages]) -> list[str]:
        import torch

        replies: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            texts = [
                self.tokenizer.apply_chat_template(
                    [*c, {"role": "assistant", "content": PREFILL}], tokenize=False, continue_final_message=True
                )
                for c in conversations[start : start + self.batch_size]
            ]
            batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            with torch.no_grad():
                out = self.model.generate(
                    **batch,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = out[:, batch["input_ids"].shape[1] :]
            replies.extend(f"{PREFILL} {t.strip()}" for t in self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return replies


class EndpointError(RuntimeError):
    """The endpoint could not be reached or answered with something that is not a chat completion."""


class EndpointJudge:
    """Any OpenAI-compatible `/chat/completions` server (vLLM's, for one), requests sent `workers` at a time.

    The API key, if the server wants one, is read from OPENAI_API_KEY, as OpenAI's own clients do.
    """

    def __init__(
        self, url: str, model: str | None = None, workers: int = 8, timeout: float = 120, max_tokens: int = 16
    ) -> None:
        self.url = url.rstrip("/")
        self.workers = workers
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.model = model or self._served_model()
        self.name = f"{self.model} at {self.url}"

    def _request(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = f"Bearer {os.environ['OPENAI_API_KEY']}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as err:
            raise EndpointError(f"judge endpoint {self.url}{path}: {err}") from None

    def _served_model(self) -> str:
        models = self._request("/models").get("data") or []
        if not models:
            raise EndpointError(f"judge endpoint {self.url}/models lists no model; set `model`")
        return str(models[0]["id"])

    def _one(self, messages: Messages) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        reply = self._request("/chat/completions", body)
        try:
            return str(reply["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"judge endpoint {self.url}: not a chat completion: {str(reply)[:200]}") from None

    def complete(self, conversations: Sequence[Messages]) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(self._one, conversations))
