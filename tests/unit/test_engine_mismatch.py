"""An FSDP or DeepSpeed accelerate config on a machine without GPUs: one line before anything loads."""

from __future__ import annotations

import pytest

from align.runtime.distributed import engine_mismatch


@pytest.mark.parametrize(
    ("key", "engine"), [("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")]
)
def test_sharding_engine_asked_for_on_cpu_is_named(monkeypatch, key: str, engine: str):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv(key, "true")
    message = engine_mismatch(cuda=False)
    assert message is not None and engine in message and "ddp.yaml" in message


def test_no_message_on_gpus_for_one_process_or_without_a_sharding_engine(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert engine_mismatch(cuda=True) is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert engine_mismatch(cuda=False) is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    assert engine_mismatch(cuda=False) is None
