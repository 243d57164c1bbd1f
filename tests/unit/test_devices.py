"""Where every model goes, as a function of the visible devices (no GPU needed to test the decision)."""

from __future__ import annotations

from align.runtime.devices import Placement, Visible, place


def test_no_gpu_keeps_everything_on_cpu_in_fp32():
    assert place(Visible(gpus=0)) == Placement("cpu", "cpu", "cpu", "cpu", "fp32")


def test_one_gpu_puts_every_model_on_it_in_bf16():
    placement = place(Visible(gpus=1))
    assert (placement.policy, placement.sampler, placement.reward, placement.likelihood) == ("cuda:0",) * 4
    assert placement.precision == "bf16" and placement.on_gpu


def test_gpu_without_bf16_uses_fp16():
    assert place(Visible(gpus=1, bf16=False)).precision == "fp16"


def test_one_process_with_several_gpus_scores_on_the_last():
    placement = place(Visible(gpus=4))
    assert placement.policy == placement.sampler == "cuda:0"
    assert placement.reward == placement.likelihood == "cuda:3"


def test_each_distributed_rank_keeps_its_models_on_its_own_gpu():
    for rank in range(4):
        placement = place(Visible(gpus=4, local_rank=rank, world_size=4))
        assert {placement.policy, placement.sampler, placement.reward, placement.likelihood} == {f"cuda:{rank}"}
