"""`align export` on the real default model: merged logits equal base + adapter logits (fp32, ≤ 1e-3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.cli import main

# Minutes on a shared 2-core CPU (SFT steps on the real model), so it runs with `make test-slow`.
pytestmark = [pytest.mark.integration, pytest.mark.slow]
# 30 layers of fp32 rounding on logits of magnitude ~20: measured 1.2e-4 apart; 1e-3 leaves room for BLAS order.
REAL_TOLERANCE = 1e-3


def test_export_default_model_equals_base_plus_adapter(
    tmp_path: Path, builtin_model: str, chat_file: Path, train_sft, logits_gap
):
    stage_dir = train_sft(tmp_path, "smollm2-135m-instruct", chat_file, steps=2)
    out = tmp_path / "merged"
    assert main(["export", str(stage_dir), "--out", str(out), "--dtype", "fp32"]) == 0
    merged_gap, adapter_effect = logits_gap(builtin_model, stage_dir, out)
    print(f"merged vs base+adapter: {merged_gap:.2e}; adapter effect: {adapter_effect:.3f}")
    assert adapter_effect > 10 * REAL_TOLERANCE
    assert merged_gap <= REAL_TOLERANCE
