"""Prompt selection re-run every N steps: the live order the sampler reads, and a real run re-ranking twice."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from align.config.load import load_recipe
from align.runner import run_recipe
from align.stages.grpo.reselect import LiveOrderSampler, reranked


def test_reranked_keeps_the_handed_out_prefix_and_cycles_the_ranking():
    assert reranked([0, 1, 2, 3, 4], [4, 2], start=2) == [0, 1, 4, 2, 4]
    assert reranked([0, 1, 2], [], start=1) == [0, 1, 2]  # nothing varies: keep the order
    assert reranked([0, 1, 2], [2], start=3) == [0, 1, 2]


def test_sampler_reads_the_order_as_it_changes():
    order = [0, 1, 2, 3]
    sampler = LiveOrderSampler(order, data_source=range(4), mini_repeat_count=2, batch_size=1, shuffle=False)
    it = iter(sampler)
    assert [next(it), next(it)] == [0, 0]
    order[1:] = [3, 3, 3]  # a re-ranking after the first chunk
    assert list(it) == [3, 3, 3, 3, 3, 3]
    assert sampler.cursor == 3


def test_grpo_reruns_prompt_selection_every_step(tmp_path: Path, tiny_model: str, chat_file: Path, judge_server):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Tell me about {w}."}) + "\n" for w in ("tea", "rain", "cats")))
    sft = {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 1, "max_length": 64, "report_to": []}
    grpo = {
        "name": "grpo", "kind": "grpo", "init": "sft", "prompts": str(prompts), "backend": "hf", "report_to": [],
        "rewards": {"helpfulness": {"source": "judge", "url": judge_server["url"], "model": "stand-in-judge"}},
        "num_generations": 3, "prompts_per_step": 1, "max_completion_length": 8, "max_steps": 2,
        "temperature": 1.5, "prompt_selection": {"every": 1},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"model": tiny_model, "lora": {"r": 4, "alpha": 8}, "stages": [sft, grpo]}))
    run_recipe(load_recipe(path), tmp_path / "run")
    stage_dir = tmp_path / "run" / "grpo"
    kept = json.loads((stage_dir / "prompt_selection.json").read_text())["kept"]
    runs = [json.loads(line) for line in (stage_dir / "prompt_reselection.jsonl").read_text().splitlines()]
    assert [r["step"] for r in runs] == [1, 2]
    # Each re-run ranks the prompts training kept (indices into them), sampled from the current policy.
    for r in runs:
        assert r["candidates"] == kept and set(r["order"]) <= set(range(kept))
