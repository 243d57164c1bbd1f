"""The "hub" reward source on tiny random classifiers saved offline: outputs mapped to dimensions by name or
index, one forward pass per batch for all of them, and the errors a wrong mapping gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from align.config.schema import RewardSpec
from reward import SourceInputs, build_rewards

PROMPTS = ["What is 2 + 2?", "Name a colour."]
COMPLETIONS = ["2 + 2 = 4.", "Blue, the colour of a clear sky on a summer day."]


def hub(model: str, output: int | str | None = None, weight: float = 1.0) -> RewardSpec:
    return RewardSpec(source="hub", model=model, output=output, weight=weight)


def direct_logits(folder: str) -> list[list[float]]:
    """The classifier run by hand on each pair alone (no batching, no padding) — the oracle."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    out = []
    for prompt, completion in zip(PROMPTS, COMPLETIONS, strict=True):
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
        ids = tokenizer.apply_chat_template(messages, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out.append(model(**ids).logits[0].tolist())
    return out


def test_multi_objective_outputs_map_to_dimensions_by_name_and_index(tiny_classifier: str):
    specs = {"helpfulness": hub(tiny_classifier, "helpfulness"), "conciseness": hub(tiny_classifier, 2, 0.5)}
    rewards = build_rewards(specs, SourceInputs())
    functions, weights = [r.function for r in rewards], [r.weight for r in rewards]
    assert [f.__name__ for f in functions] == ["helpfulness", "conciseness"] and weights == [1.0, 0.5]
    expected = direct_logits(tiny_classifier)
    helpful = functions[0](PROMPTS, COMPLETIONS)
    concise = functions[1](PROMPTS, COMPLETIONS)
    assert helpful == pytest.approx([row[0] for row in expected], abs=1e-4)
    assert concise == pytest.approx([row[2] for row in expected], abs=1e-4)
    assert helpful[0] != helpful[1]  # the score depends on the completion
    # Both dimensions read one loaded model, and the second call reused the first's forward pass.
    assert functions[0].model is functions[1].model and functions[0].model.forward_passes == 1
    verdict = functions[1].score(PROMPTS, COMPLETIONS)[0]
    assert verdict.reason == f"{tiny_classifier} output verbosity"


def test_conversational_completions_score_like_plain_text(tiny_classifier: str):
    (function,) = [r.function for r in build_rewards({"helpfulness": hub(tiny_classifier, 0)}, SourceInputs())]
    plain = function(PROMPTS, COMPLETIONS)
    chat = function(
        [[{"role": "user", "content": p}] for p in PROMPTS],
        [[{"role": "assistant", "content": c}] for c in COMPLETIONS],
    )
    assert chat == pytest.approx(plain)


def test_single_output_model_without_chat_template(tiny_bert_path: Path, tmp_path: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path / "one-score"
    AutoModelForSequenceClassification.from_pretrained(tiny_bert_path, num_labels=1).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert_path).save_pretrained(folder)
    (function,) = [r.function for r in build_rewards({"helpfulness": hub(str(folder))}, SourceInputs())]
    scores = function(PROMPTS, COMPLETIONS)
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores) and scores[0] != scores[1]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (None, "has 3 outputs \\(helpfulness, honesty, verbosity\\); set `output`"),
        ("harmlessness", "no output 'harmlessness'; its outputs: helpfulness, honesty, verbosity"),
        (3, "has outputs 0..2; got output 3"),
    ],
)
def test_wrong_output_mapping_names_the_reward_and_the_outputs(tiny_classifier: str, output, message: str):
    with pytest.raises(ValueError, match="^reward 'helpfulness': .*" + message):
        build_rewards({"helpfulness": hub(tiny_classifier, output)}, SourceInputs())


def test_model_names_go_through_the_callers_resolver(tiny_classifier: str):
    seen = []

    def resolve(name: str) -> str:
        seen.append(name)
        return tiny_classifier

    build_rewards({"helpfulness": hub("my-org/armo-like", 0)}, SourceInputs(resolve_model=resolve))
    assert seen == ["my-org/armo-like"]


def test_inputs_cut_to_the_models_length_are_flagged_and_counted(tiny_classifier: str):
    (function,) = [r.function for r in build_rewards({"helpfulness": hub(tiny_classifier, 0)}, SourceInputs())]
    function.model.tokenizer.model_max_length = 64
    long = " ".join(["word"] * 200)
    verdicts = function.score(PROMPTS, [COMPLETIONS[0], long])
    assert [v.flags for v in verdicts] == [(), ("truncated",)]
    function(PROMPTS, [COMPLETIONS[0], long])
    assert function.flags == {"truncated": 1}  # GRPO's manifest reports it as reward_flags[helpfulness/truncated]
