"""Options that work in one process only are refused before any rank starts, in one line naming the key."""

from __future__ import annotations

from pathlib import Path

import yaml

from align.cli import main


def test_dynamic_sampling_under_several_ranks_is_refused_before_launch(tmp_path: Path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "hi"}\n')
    grpo = {
        "name": "grpo",
        "kind": "grpo",
        "init": "sft",
        "prompts": str(prompts),
        "rewards": {"conciseness": {"source": "rule"}},
        "dynamic_sampling": {"enabled": True},
    }
    sft = {"name": "sft", "kind": "sft", "data": str(prompts)}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"model": "any", "stages": [sft, grpo]}))
    assert main(["run", str(recipe), "--nproc", "2", "--run-dir", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == (
        "error: stages.grpo.dynamic_sampling: runs in one process only, not 2 (ranks would resample different "
        "numbers of times and wait on each other); set enabled: false or drop --nproc\n"
    )
    assert not (tmp_path / "run").exists()  # refused before anything started
