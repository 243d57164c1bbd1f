"""`align export`: the merged model computes what base + adapter computed (fp32, max |Δlogit| ≤ 1e-4)."""

from __future__ import annotations

from pathlib import Path

from align.cli import main

TOLERANCE = 1e-4  # fp32 merge: W + scale·BA versus W·x + scale·B(A·x), rounding only


def test_export_tiny_model_equals_base_plus_adapter(
    tmp_path: Path, tiny_model: str, chat_file: Path, train_sft, logits_gap
):
    stage_dir = train_sft(tmp_path, tiny_model, chat_file)
    out = tmp_path / "merged"
    assert main(["export", str(stage_dir), "--out", str(out)]) == 0
    for name in ("model.safetensors", "config.json", "tokenizer.json", "generation_config.json", "README.md"):
        assert (out / name).is_file(), name
    assert not list(out.glob("adapter_*"))
    card = (out / "README.md").read_text()
    assert "align `sft` (sft)" in card and "loss_last" in card and "## Evaluation" in card
    merged_gap, adapter_effect = logits_gap(tiny_model, stage_dir, out)
    assert adapter_effect > 100 * TOLERANCE  # the adapter changes the logits, so equality is a real check
    assert merged_gap <= TOLERANCE


def test_export_refuses_a_non_adapter_stage_and_a_full_folder(
    tmp_path: Path, tiny_model: str, chat_file: Path, capsys, train_sft
):
    stage_dir = train_sft(tmp_path, tiny_model, chat_file, steps=1)
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    assert main(["export", str(stage_dir), "--out", str(full)]) == 2
    assert "folder exists and is not empty" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "not a completed stage folder" in capsys.readouterr().err
