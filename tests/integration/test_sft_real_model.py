"""SFT on the real offline default model: the loss falls, the adapter loads without align, and it changes answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from align.config.load import load_recipe
from align.runner import run_recipe

pytestmark = pytest.mark.integration

RELOAD_WITHOUT_ALIGN = """
import sys
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
base, adapter = sys.argv[1], sys.argv[2]
assert "align" not in sys.modules
tok = AutoTokenizer.from_pretrained(adapter)
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter)
ids = tok.apply_chat_template([{"role": "user", "content": "What is 3 + 4?"}], add_generation_prompt=True,
                              return_tensors="pt", return_dict=True)
out = model.generate(**ids, max_new_tokens=24, do_sample=False)
print(tok.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True))
"""


def test_sft_on_default_model(builtin_model: str, chat_file: Path, tmp_path: Path):
    recipe_path = tmp_path / "sft.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "stages": [
                    {
                        "name": "sft",
                        "kind": "sft",
                        "data": str(chat_file),
                        "max_steps": 8,
                        "batch_size": 4,
                        "learning_rate": 1e-3,
                        "logging_steps": 1,
                        "max_length": 128,
                        "report_to": ["tensorboard"],
                    }
                ],
            }
        )
    )
    run_dir = tmp_path / "run"
    [outcome] = run_recipe(load_recipe(recipe_path), run_dir)
    manifest = json.loads((run_dir / "sft" / "manifest.json").read_text())
    assert manifest["base_model"] == "smollm2-135m-instruct"
    assert manifest["metrics"]["loss_last"] < 0.5 * manifest["metrics"]["loss_first"]
    assert list((run_dir / "tb" / "sft").glob("events.out.tfevents.*")), "no TensorBoard log written"

    def answer(adapter: Path | None) -> str:
        script = (
            RELOAD_WITHOUT_ALIGN
            if adapter
            else RELOAD_WITHOUT_ALIGN.replace(
                "PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter)",
                "AutoModelForCausalLM.from_pretrained(base)",
            )
        )
        out = subprocess.run(
            [sys.executable, "-c", script, builtin_model, str(adapter or builtin_model)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return out.stdout.strip()

    before, after = answer(None), answer(outcome.path)
    # The training data always ends with a boxed answer; the base model never writes one.
    assert "\\boxed{" not in before
    assert "\\boxed{7}" in after
