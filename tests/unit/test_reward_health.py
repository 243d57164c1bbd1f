"""A reward source that keeps failing stops GRPO with a checkpoint and one line naming it; 0 keeps training on."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from transformers import TrainerControl

from align.cli import main
from align.config.schema import RewardFailureLimit
from align.runtime.errors import AlignError
from align.stages.grpo.reward_health import RewardHealth
from align.stages.grpo.safe_reward import SafeReward


def source(name: str, fail: list[bool]):
    """A reward whose n-th call raises when fail[n] is true."""
    calls = iter(fail)

    def score(prompts, completions, **_):
        if next(calls):
            raise ConnectionError("judge endpoint http://h/v1: refused")
        return [1.0] * len(completions)

    score.__name__ = name
    return SafeReward(score, Counter())


def steps(health: RewardHealth, rewards: list[SafeReward], n: int) -> list[str | None]:
    """n optimiser steps, each scoring four completions with every reward; the guard's verdict after each."""
    model = torch.nn.Linear(2, 1)
    verdicts = []
    for step in range(n):
        for reward in rewards:
            reward(["p"] * 4, ["c"] * 4)
        model.weight.grad = torch.ones_like(model.weight)
        control = health.on_pre_optimizer_step(None, SimpleNamespace(global_step=step), TrainerControl(), model=model)
        verdicts.append(health.verdict)
        if control.should_training_stop:
            assert control.should_save and model.weight.grad is None
            break
    return verdicts


def test_a_source_failing_a_whole_step_stops_at_that_step():
    judge, rule = source("helpfulness", [False, True]), source("conciseness", [False] * 3)
    health = RewardHealth([judge, rule], RewardFailureLimit(), "grpo")
    verdicts = steps(health, [judge, rule], 3)
    assert verdicts[0] is None
    assert verdicts[1] == (
        "stages.grpo.rewards.helpfulness: failed on 4 of 4 completions (more than reward_failure_limit.share=0.5); "
        "last failure: raised ConnectionError: judge endpoint http://h/v1: refused; at step 2"
    )
    with pytest.raises(AlignError, match=r"^stages.grpo.rewards.helpfulness: .* stopped with a checkpoint in ck \("):
        health.raise_if_stopped(Path("ck"))


def test_failing_in_steps_in_a_row_stops_even_under_the_share():
    judge = source("helpfulness", [True, True, False, True, True, True])
    health = RewardHealth([judge], RewardFailureLimit(share=1, steps=3), "grpo")
    verdicts = steps(health, [judge], 6)
    assert len(verdicts) == 6 and "failed in 3 steps in a row" in str(verdicts[-1])  # the streak restarted at 3


def test_zero_limits_keep_training_on_a_dead_source():
    judge = source("helpfulness", [True] * 4)
    health = RewardHealth([judge], RewardFailureLimit(share=0, steps=0), "grpo")
    assert steps(health, [judge], 4) == [None] * 4
    assert judge.failures == Counter({"helpfulness/raised": 16})


def test_a_step_without_calls_neither_breaks_nor_extends_a_streak():
    judge = source("helpfulness", [True, True])
    health = RewardHealth([judge], RewardFailureLimit(share=1, steps=2), "grpo")
    judge(["p"], ["c"])
    assert health.check() is None
    assert health.check() is None  # no call: the streak stays at 1
    judge(["p"], ["c"])
    assert "2 steps in a row" in str(health.check())


def run_with_dead_judge(tmp_path: Path, model: str, chat_file: Path, capsys, **grpo_extra) -> str:
    """SFT, then GRPO rewarded by a rule and by a judge whose server is down; the run's one `error:` line."""
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"Say something about {w}."}) + "\n" for w in ("tea", "rain")))
    sft = {"name": "sft", "kind": "sft", "data": str(chat_file), "max_steps": 1, "max_length": 64, "report_to": []}
    grpo = {
        "name": "grpo",
        "kind": "grpo",
        "init": "sft",
        "prompts": str(prompts),
        "report_to": [],
        "backend": "hf",
        "num_generations": 2,
        "prompts_per_step": 1,
        "max_completion_length": 4,
        "max_steps": 2,
        # Port 9 (discard) on 127.0.0.1 refuses at once: a judge whose server is down.
        "rewards": {
            "conciseness": {"source": "rule"},
            "helpfulness": {"source": "judge", "url": "http://127.0.0.1:9/v1", "model": "judge"},
        },
        **grpo_extra,
    }
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"model": model, "lora": {"r": 4, "alpha": 8}, "stages": [sft, grpo]}))
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "EndpointError: judge endpoint http://127.0.0.1:9/v1/chat/completions" in lines[0]
    return lines[0]


def test_a_dead_judge_stops_grpo_at_prompt_selection(tmp_path: Path, tiny_model: str, chat_file: Path, capsys):
    line = run_with_dead_judge(tmp_path, tiny_model, chat_file, capsys)
    assert line.startswith("error: stages.grpo.rewards.helpfulness: failed on 4 of 4 completions")
    assert "during prompt selection" in line


def test_a_dead_judge_stops_training_with_a_checkpoint(tmp_path: Path, tiny_model: str, chat_file: Path, capsys):
    line = run_with_dead_judge(tmp_path, tiny_model, chat_file, capsys, prompt_selection={"enabled": False})
    checkpoints = tmp_path / "run" / "grpo" / "checkpoints"
    assert line.startswith("error: stages.grpo.rewards.helpfulness: failed on 2 of 2 completions")
    assert line.endswith(
        f"at step 1; stopped with a checkpoint in {checkpoints} (fix the source and re-run to "
        "resume, or set reward_failure_limit.share: 0 and steps: 0 to train on without it)"
    )
    assert (checkpoints / "checkpoint-1" / "trainer_state.json").is_file()
    assert not (tmp_path / "run" / "grpo" / "COMPLETE").exists()
