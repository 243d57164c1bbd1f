"""align's use of TRL internals matches the installed TRL: an upgrade fails here, in one test, with one message."""

from __future__ import annotations

from align.stages import trl_private


def test_trl_internals_match_the_pinned_version(tiny_model: str, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    config = GRPOConfig(
        output_dir=str(tmp_path), num_generations=2, per_device_train_batch_size=2, report_to=[], use_cpu=True
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": "hi"}]),
        processing_class=AutoTokenizer.from_pretrained(tiny_model),
    )
    found = trl_private.problems(trainer)
    assert not found, (
        f"align/stages/trl_private.py was written for TRL {trl_private.PINNED} and no longer matches the installed "
        f"TRL: {'; '.join(found)}. Check each function there against the new TRL, then update PINNED."
    )


def test_a_mismatch_is_reported(monkeypatch):
    import trl

    monkeypatch.setattr(trl, "__version__", "9.0.0")
    monkeypatch.setitem(trl_private.METHODS, ("GRPOTrainer", "_tokenize_prompts"), ["prompts", "images"])
    monkeypatch.setitem(trl_private.METHODS, ("DPOTrainer", "_renamed_away"), ["inputs"])
    assert trl_private.problems() == [
        f"TRL 9.0.0 is installed; align's use of TRL internals was written for {trl_private.PINNED}",
        "GRPOTrainer._tokenize_prompts now takes ['prompts']",
        "DPOTrainer._renamed_away is gone",
    ]
