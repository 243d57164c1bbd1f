"""A stage's typed result lays out the manifest's flat metrics: nested records and recipe-keyed mappings spliced in."""

from __future__ import annotations

from align.stages.results import DPOResult, GRPOResult, GuardCounts, Losses, PairsResult, RewardModelResult
from align.stages.training import loss_metrics


def test_losses_never_logged_are_left_out_not_written_as_null():
    history = [{"loss": 2.0}, {"loss": 1.5}, {"train_runtime": 3.0, "train_loss": 1.75}]
    assert loss_metrics(history).metrics() == {
        "loss_first": 2.0,
        "loss_last": 1.5,
        "train_runtime": 3.0,
        "train_loss": 1.75,
    }
    assert loss_metrics([]).metrics() == {}


def test_dpo_result_keeps_its_nulls_and_flattens_losses_and_guard_in_order():
    result = DPOResult(
        losses=Losses(loss_first=1.0, loss_last=0.5),
        pairs=4,
        truncated_rows=0,
        steps=2,
        reward_accuracy_first=None,
        reward_accuracy_last=None,
        reward_accuracy_mean=None,
        reward_margin_mean=None,
        reward_margin_last=None,
        init_artifact=None,
        guard=GuardCounts(nonfinite_steps_skipped=1, first_step=3),
    )
    metrics = result.metrics()
    assert list(metrics)[:3] == ["loss_first", "loss_last", "pairs"]
    assert list(metrics)[-2:] == ["nonfinite_steps_skipped", "first_step"]
    assert metrics["reward_accuracy_first"] is None and metrics["first_step"] == 3


def test_recipe_keyed_mappings_are_spliced_flat_and_empty_ones_add_nothing():
    grpo = GRPOResult(
        losses=Losses(),
        rewards={"reward_first_half": 0.1, "math_first_half": 0.2},
        steps=1,
        prompts_trained=2,
        rollout_backend="hf",
        guard=GuardCounts(0, 1),
        reward_failures={},
        reward_flags={},
        rollouts={},
    ).metrics()
    assert grpo["math_first_half"] == 0.2 and "rewards" not in grpo and "rollouts" not in grpo
    assert grpo["reward_failures"] == {}  # a plain mapping field stays under its own name
    assert RewardModelResult(trained={}).metrics() == {}
    pairs = PairsResult(
        prompts=2,
        samples=8,
        pass_rate=0.5,
        pairs=1,
        pairs_from_solved=0,
        user_pairs=0,
        undecided_samples=0,
        samples_per_s=None,
        skipped={},
        batches_resumed=0,
        verifier_failures=0,
        verifier_flags={},
        per_group={"pairs_per_group": {"easy": 1}},
    ).metrics()
    assert pairs["pairs_per_group"] == {"easy": 1} and "per_group" not in pairs
