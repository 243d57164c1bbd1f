"""The "judge" reward source: the rating parser, the OpenAI-compatible client against a stand-in server on
127.0.0.1, and the offline default model judging for real."""

from __future__ import annotations

import pytest

from align.config.schema import RewardSpec
from reward import SourceInputs, build_rewards
from reward.judge.backends import EndpointError
from reward.judge.parse import parse_rating


@pytest.mark.parametrize(
    ("reply", "rating"),
    [
        ("Rating: 7", 7),
        ("**8**/10", 8),
        ("I would give it 6 out of 10.", 6),
        ("7. The answer is clear.", 7),
        ("The score is 9", 9),
        ("rating of 4.5", 4.5),
        ("10", 10),
        ("9/10 because it lists 3 facts", 9),
        (" 7\n\nThe response is fine", 7),
        ("between 6 and 8", None),  # two candidates: not guessed
        ("Rating: 11", None),  # off the scale
        ("Rating: 0", None),
        ("5/100", None),
        ("2 + 2 = 4 is right", None),  # a leading number that is arithmetic, not a rating
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_parse_rating(reply: str, rating: float | None):
    assert parse_rating(reply) == rating


PROMPTS = ["Name a fruit.", "Name a fruit.", "Name a colour."]
COMPLETIONS = ["A banana.", "??? banana", "Blue is the colour of the sky."]


def judge(**fields) -> RewardSpec:
    return RewardSpec(source="judge", **fields)


def test_endpoint_judge_scores_counts_unreadable_and_caches(judge_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    specs = {"helpfulness": judge(url=judge_server["url"]), "relevance": judge(url=judge_server["url"], rubric="R?")}
    helpful, relevant = [r.function for r in build_rewards(specs, SourceInputs())]
    verdicts = helpful.score(PROMPTS, COMPLETIONS)
    # 2 words -> rating 3 -> (3 - 1) / 9; 7 words -> rating 8 -> 7 / 9; '???' -> unreadable.
    assert [v.score for v in verdicts] == pytest.approx([2 / 9, None, 7 / 9])
    assert "no 1-10 rating" in verdicts[1].reason and "I cannot tell." in verdicts[1].reason
    assert helpful.judge is relevant.judge and helpful.judge.unparsed == 1
    sent = judge_server["requests"]
    assert len(sent) == 3
    assert {r["body"]["model"] for r in sent} == {"stand-in-judge"}  # asked /models which model is served
    assert all(r["body"]["temperature"] == 0 and r["auth"] == "Bearer test-key" for r in sent)
    assert all("Does the response actually help" in r["body"]["messages"][0]["content"] for r in sent)

    assert helpful(PROMPTS, COMPLETIONS) == [v.score for v in verdicts]
    assert len(judge_server["requests"]) == 3  # cached per (prompt, completion, rubric)
    relevant(PROMPTS[:1], COMPLETIONS[:1])  # another rubric is another question
    assert len(judge_server["requests"]) == 4 and "Criterion: R?" in sent[-1]["body"]["messages"][0]["content"]


def test_unreachable_endpoint_is_an_error_naming_it():
    with pytest.raises(EndpointError, match=r"judge endpoint http://127\.0\.0\.1:9/v1/models"):
        build_rewards({"helpfulness": judge(url="http://127.0.0.1:9/v1")}, SourceInputs())


def test_unknown_dimension_needs_a_rubric():
    with pytest.raises(ValueError, match="no built-in rubric"):
        build_rewards({"style": judge(url="http://127.0.0.1:9/v1")}, SourceInputs())


def test_policy_judge_needs_the_policy():
    with pytest.raises(ValueError, match="'policy' judge needs the recipe's model"):
        build_rewards({"helpfulness": judge()}, SourceInputs())


def test_default_model_judges_for_real(builtin_model: str):
    """SmolLM2-135M as the judge: real replies, each a parsed rating or a counted None, deterministic, cached."""
    specs = {"helpfulness": judge(), "harmlessness": judge(model=builtin_model)}
    helpful, harmless = [r.function for r in build_rewards(specs, SourceInputs(policy_model=builtin_model))]
    assert helpful.judge is harmless.judge  # 'policy' and the same folder are one loaded model
    prompts = ["What is the capital of France?", "What is 2 + 2?"]
    completions = ["The capital of France is Paris.", "I do not know."]
    verdicts = helpful.score(prompts, completions) + harmless.score(prompts, completions)
    for verdict in verdicts:
        if verdict.score is None:
            assert "no 1-10 rating" in verdict.reason
        else:
            assert 0.0 <= verdict.score <= 1.0 and verdict.reason.endswith("/10")
    assert helpful.judge.unparsed == sum(v.score is None for v in verdicts)
    assert helpful.judge.calls == 4
    assert helpful.score(prompts, completions) == verdicts[:2] and helpful.judge.calls == 4
