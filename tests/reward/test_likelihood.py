"""Dimensions scored by a causal LM — its mean token log-probability of the response, or that log-probability's
rise given the prompt (PMI): the maths, the artifact, the real model's quality."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional

from align.evaluation.stats import mcnemar_exact
from reward.dimensions import DIMENSIONS
from reward.jsonl import read_jsonl
from reward.model import RewardModel
from reward.model.likelihood import UNPROMPTED, LikelihoodScorer, fit_scale, with_reference
from reward.model.rows import parse_rows
from reward.model.train import evaluate, train_reward_model

EVAL = Path(__file__).resolve().parents[2] / "data" / "reward" / "eval.jsonl"
PROBE = EVAL.with_name("probe.jsonl")
POLARITY = EVAL.with_name("polarity.jsonl")


def _sums(*dimensions: str) -> list[dict]:
    """Four "What is n + 1?" pairs per dimension: the right sum against a wrong one with a word attached."""
    return [
        {"prompt": f"What is {n} + 1?", "chosen": f"{n + 1}", "rejected": f"{n + 7} apples", "dimension": d}
        for n in range(4)
        for d in dimensions
    ]


def _train(backbone: Path, rows: list[dict], out: Path, **options) -> dict[str, float]:
    """One quick reward-model run on `rows` (trained on and evaluated on), with the given LM options."""
    settings = dict(learning_rate=1e-3, epochs=1, batch_size=8, max_length=32, seed=0, max_steps=1, progress=False)
    return train_reward_model(backbone, rows, rows, output_dir=out, **(settings | options))


def test_fit_scale_minimises_the_bradley_terry_loss() -> None:
    torch.manual_seed(0)
    margin = torch.randn(200) + 0.5  # mostly, not always, positive
    scale = fit_scale(margin, torch.zeros(200))

    def loss(a: float) -> float:
        return -functional.logsigmoid(a * margin).mean().item()

    assert scale > 0
    assert loss(scale) <= min(loss(0.8 * scale), loss(1.25 * scale), loss(0.0))


def test_mean_logprob_is_the_mean_over_response_tokens_whatever_the_batch(tiny_model: str) -> None:
    scorer = LikelihoodScorer.load(tiny_model, max_length=64)
    prompts = ["What is 2 + 2?", "Name a colour, please, any colour you like."]
    responses = ["4", "Blue is a colour, and so is a deep shade of green."]
    batched = scorer.mean_logprob(prompts, responses, batch_size=2)
    alone = torch.cat([scorer.mean_logprob([p], [r], batch_size=1) for p, r in zip(prompts, responses, strict=True)])
    assert torch.allclose(batched, alone, atol=1e-4)  # padding changes nothing

    prefix = scorer._prefix(prompts[1])
    body = scorer.tokenizer(responses[1], add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prefix + body])
    with torch.no_grad():
        logits = scorer.model(input_ids=ids).logits[0]
    by_hand = functional.log_softmax(logits[len(prefix) - 1 : -1], -1).gather(1, torch.tensor(body)[:, None]).mean()
    assert batched[1].item() == pytest.approx(by_hand.item(), abs=1e-4)


def test_likelihood_dimension_replaces_its_head_and_survives_save_and_load(
    tiny_bert_path: Path, tiny_model: str, tmp_path: Path
) -> None:
    train = _sums("truthfulness", "relevance")
    metrics = _train(
        tiny_bert_path, train, tmp_path, likelihood_model=tiny_model, likelihood_dimensions=["truthfulness"]
    )
    assert metrics["likelihood/pairs"] == 4 and metrics["likelihood/scale"] > 0
    # Held-out texts the LM was not asked to score must not leak NaN into the metrics.
    assert math.isfinite(metrics["eval/loss"]) and math.isfinite(metrics["accuracy/truthfulness"])
    saved = json.loads((tmp_path / "reward_config.json").read_text())["likelihood"]
    assert saved["model"] == tiny_model and saved["dimensions"] == ["truthfulness"]

    model = RewardModel.load(tmp_path)
    prompts, completions = ["What is 3 + 1?", "What is 5 + 1?"], ["4", "a duck"]
    scores = model.score_tensor(prompts, completions)
    logprob = LikelihoodScorer.load(tiny_model, max_length=32).mean_logprob(prompts, completions)
    expected = saved["scale"] * (logprob - saved["offset"])
    assert torch.allclose(scores[:, DIMENSIONS.index("truthfulness")], expected, atol=1e-4)
    heads = model.network(**model.tokenizer(prompts, completions, padding=True, return_tensors="pt"))
    relevance = DIMENSIONS.index("relevance")
    assert torch.allclose(scores[:, relevance], heads[:, relevance].detach(), atol=1e-5)


def test_unknown_likelihood_dimension_is_refused_before_training(tiny_bert_path: Path, tmp_path: Path) -> None:
    row = {"prompt": "p", "chosen": "a", "rejected": "b", "dimension": "relevance"}
    with pytest.raises(ValueError, match="likelihood: unknown dimension 'honesty'"):
        _train(tiny_bert_path, [row], tmp_path, likelihood_model="unused", likelihood_dimensions=["honesty"])


def test_the_default_model_knows_which_answer_is_true(builtin_model: str) -> None:
    """The reason truthfulness is scored this way: on the held-out pairs, untrained, the LM prefers the truth."""
    pairs = [r for r in read_jsonl(EVAL) if r["dimension"] == "truthfulness"]
    scorer = LikelihoodScorer.load(builtin_model, max_length=256)
    prompts = [p["prompt"] for p in pairs]
    chosen = scorer.mean_logprob(prompts, [p["chosen"] for p in pairs])
    rejected = scorer.mean_logprob(prompts, [p["rejected"] for p in pairs])
    assert len(pairs) >= 80
    # A sign test rather than an accuracy bound: 77/90 sat exactly on a 0.85 bound, so one pair flipped by a new
    # tokenizer or kernel would fail it while the evidence (p ~ 1e-12) stays overwhelming.
    right = int((chosen > rejected).sum())
    assert mcnemar_exact(right, len(pairs) - right) < 0.01 and right > len(pairs) / 2, right


def test_pmi_is_the_prompted_minus_the_unprompted_log_prob(tiny_model: str) -> None:
    scorer = LikelihoodScorer.load(tiny_model, max_length=64)
    prompts = ["What is 2 + 2?", "Name a colour."]
    responses = ["4", "Blue."]
    pmi = scorer.pointwise_mi(prompts, responses, reduction="mean")
    prompted = scorer.mean_logprob(prompts, responses)
    unprompted = torch.cat([scorer.mean_logprob([UNPROMPTED], [r]) for r in responses])
    assert torch.allclose(pmi, prompted - unprompted, atol=1e-5)
    assert torch.allclose(scorer.pointwise_mi(prompts, responses, prompted=prompted, reduction="mean"), pmi)
    assert not torch.allclose(pmi, prompted)  # the baseline is a real forward pass, not zero
    # Summed (the default): the whole response's log-ratio, so a response twice as long counts twice.
    tokens = torch.tensor([len(scorer.tokenizer(r, add_special_tokens=False)["input_ids"]) for r in responses])
    assert tokens.tolist() != [1, 1]
    assert torch.allclose(scorer.pointwise_mi(prompts, responses), pmi * tokens, atol=1e-4)


def test_reference_guided_is_the_rise_in_mean_log_prob_with_the_reference_shown_whatever_the_batch(
    tiny_model: str,
) -> None:
    scorer = LikelihoodScorer.load(tiny_model, max_length=96)
    prompts = ["Is the Sun a planet?", "Name a colour, please, any colour you like."]
    responses = ["No.", "Blue is a colour, and so is a deep shade of green."]
    references = ["It is a star.", "Red, for example."]
    batched = scorer.reference_guided(prompts, responses, references, batch_size=2)
    alone = torch.cat(
        [
            scorer.reference_guided([p], [r], [x], batch_size=1)
            for p, r, x in zip(prompts, responses, references, strict=True)
        ]
    )
    assert torch.allclose(batched, alone, atol=1e-4)  # padding changes nothing
    shown = scorer.mean_logprob([with_reference(p, x) for p, x in zip(prompts, references, strict=True)], responses)
    assert torch.allclose(batched, shown - scorer.mean_logprob(prompts, responses), atol=1e-5)
    assert not torch.allclose(batched, torch.zeros(2), atol=1e-4)  # the reference is really in the context
    prompted = scorer.mean_logprob(prompts, responses)
    assert torch.allclose(scorer.reference_guided(prompts, responses, references, prompted=prompted), batched)


def test_pmi_dimension_replaces_its_head_beside_a_likelihood_one_and_survives_save_and_load(
    tiny_bert_path: Path, tiny_model: str, tmp_path: Path
) -> None:
    train = _sums("truthfulness", "relevance", "helpfulness")
    lm = {"likelihood_model": tiny_model, "likelihood_dimensions": ["truthfulness"], "pmi_dimensions": ["relevance"]}
    metrics = _train(tiny_bert_path, train, tmp_path, **lm)
    assert metrics["likelihood/pairs"] == metrics["pmi/pairs"] == 4 and metrics["pmi/scale"] > 0
    assert math.isfinite(metrics["eval/loss"]) and math.isfinite(metrics["accuracy/relevance"])
    config = json.loads((tmp_path / "reward_config.json").read_text())
    saved = config["pmi"]
    assert saved["model"] == tiny_model and saved["dimensions"] == ["relevance"] and saved["reduction"] == "sum"
    assert config["likelihood"]["dimensions"] == ["truthfulness"]

    model = RewardModel.load(tmp_path)
    prompts, completions = ["What is 3 + 1?", "What is 5 + 1?"], ["4", "a duck"]
    scores = model.score_tensor(prompts, completions)
    scorer = LikelihoodScorer.load(tiny_model, max_length=32)
    expected = saved["scale"] * (scorer.pointwise_mi(prompts, completions) - saved["offset"])
    assert torch.allclose(scores[:, DIMENSIONS.index("relevance")], expected, atol=1e-4)
    truth = config["likelihood"]["scale"] * (scorer.mean_logprob(prompts, completions) - config["likelihood"]["offset"])
    assert torch.allclose(scores[:, DIMENSIONS.index("truthfulness")], truth, atol=1e-4)
    heads = model.network(**model.tokenizer(prompts, completions, padding=True, return_tensors="pt"))
    helpfulness = DIMENSIONS.index("helpfulness")
    assert torch.allclose(scores[:, helpfulness], heads[:, helpfulness].detach(), atol=1e-5)
    # Asked for head dimensions only, the LM columns are not computed (NaN), never a head's stale score.
    only_heads = model.score_tensor(prompts, completions, dimensions=["helpfulness"])
    assert torch.isnan(only_heads[:, DIMENSIONS.index("relevance")]).all()
    # Asked for truthfulness alone, the PMI's unprompted pass is skipped, and the log-prob column is unchanged.
    only_truth = model.score_tensor(prompts, completions, dimensions=["truthfulness"])
    assert torch.isnan(only_truth[:, DIMENSIONS.index("relevance")]).all()
    assert torch.allclose(only_truth[:, DIMENSIONS.index("truthfulness")], truth, atol=1e-4)
    # A PMI artifact written before the sum (no `reduction`) still scores the mean it was calibrated on.
    # (Unit scale, so that the scores are the raw values: the tiny LM's fitted scale is ~1e-7.)
    del config["pmi"]["reduction"]
    config["pmi"] |= {"scale": 1.0, "offset": 0.0}
    (tmp_path / "reward_config.json").write_text(json.dumps(config))
    old = RewardModel.load(tmp_path).score_tensor(prompts, completions)[:, DIMENSIONS.index("relevance")]
    mean = scorer.pointwise_mi(prompts, completions, reduction="mean")
    assert torch.allclose(old, mean, atol=1e-4)
    assert not torch.allclose(old, scorer.pointwise_mi(prompts, completions), atol=1e-4)


def test_held_out_evaluation_runs_the_pmi_pass_on_the_pmi_pairs_only(
    tiny_bert_path: Path, tiny_model: str, tmp_path: Path
) -> None:
    train = _sums("truthfulness", "relevance")
    lm = {"likelihood_model": tiny_model, "likelihood_dimensions": ["truthfulness"], "pmi_dimensions": ["relevance"]}
    _train(tiny_bert_path, train, tmp_path, **lm)
    model = RewardModel.load(tmp_path)
    assert model.likelihood is not None
    seen: list[str] = []
    real = model.likelihood.pointwise_mi

    def recording(prompts, responses, *args, **kwargs):
        seen.extend(responses)
        return real(prompts, responses, *args, **kwargs)

    model.likelihood.pointwise_mi = recording  # type: ignore[method-assign]
    metrics = evaluate(model, parse_rows(train, model.dimensions), batch_size=8)
    relevance = {row[side] for row in train if row["dimension"] == "relevance" for side in ("chosen", "rejected")}
    assert set(seen) == relevance and len(seen) == len(relevance)
    assert math.isfinite(metrics["accuracy/truthfulness"]) and math.isfinite(metrics["accuracy/relevance"])


def test_a_dimension_scored_both_ways_is_refused_before_training(tiny_bert_path: Path, tmp_path: Path) -> None:
    row = {"prompt": "p", "chosen": "a", "rejected": "b", "dimension": "relevance"}
    both = {"likelihood_dimensions": ["relevance"], "pmi_dimensions": ["relevance"]}
    with pytest.raises(ValueError, match="pmi: 'relevance' is scored by likelihood already"):
        _train(tiny_bert_path, [row], tmp_path, likelihood_model="unused", **both)


def test_the_default_model_tells_an_answer_from_one_to_another_question(builtin_model: str) -> None:
    """Why relevance is scored by PMI in recipes/chat.yaml: untrained, on the hand-written probe pairs (other
    styles than the training templates), it ranks the answer to the question above an on-subject drift."""
    scorer = LikelihoodScorer.load(builtin_model, max_length=256)
    counts = []
    for path in (PROBE, EVAL):
        pairs = [r for r in read_jsonl(path) if r["dimension"] == "relevance"]
        prompts = [p["prompt"] for p in pairs]
        chosen = scorer.pointwise_mi(prompts, [p["chosen"] for p in pairs])
        rejected = scorer.pointwise_mi(prompts, [p["rejected"] for p in pairs])
        right = int((chosen > rejected).sum())
        assert len(pairs) >= 10 and right > len(pairs) / 2, (path.name, right, len(pairs))
        counts.append((right, len(pairs) - right))
    # 11 probe pairs cannot reach p < 0.01 with one miss, so the significance is judged on both sets together;
    # each set on its own must still rank most pairs right.
    right, wrong = map(sum, zip(*counts, strict=True))
    assert mcnemar_exact(right, wrong) < 0.01, counts


def test_a_reference_answer_in_context_ranks_yes_no_flips_the_plain_scores_cannot(builtin_model: str) -> None:
    """The measurement in docs/rewards.md (reference-guided likelihood): on the 12 polarity questions, untrained,
    the LM's log-prob ranks the true answer above its flip on fewer than half, and PMI on half; the rise with a
    paraphrased reference answer shown ranks 9 right, with a one-sentence fact (no Yes/No) 7."""
    pairs = [r for r in read_jsonl(POLARITY) if r["dimension"] == "truthfulness"]
    references = {r["prompt"]: r for r in read_jsonl(POLARITY.with_name("polarity_reference.jsonl"))}
    assert len(pairs) == len(references) == 12 and {p["prompt"] for p in pairs} == set(references)
    scorer = LikelihoodScorer.load(builtin_model, max_length=256)
    prompts = [p["prompt"] for p in pairs]
    sides = [p["chosen"] for p in pairs], [p["rejected"] for p in pairs]
    plain = [scorer.mean_logprob(prompts, side) for side in sides]
    pmi = [scorer.pointwise_mi(prompts, side, prompted=given) for side, given in zip(sides, plain, strict=True)]

    def right(scores: list[torch.Tensor]) -> int:
        return int((scores[0] > scores[1]).sum())

    def guided(column: str) -> int:
        shown = [references[p][column] for p in prompts]
        return right(
            [scorer.reference_guided(prompts, s, shown, prompted=g) for s, g in zip(sides, plain, strict=True)]
        )

    assert right(plain) <= 4 and right(pmi) <= 6
    assert guided("reference") >= 9 and guided("fact") >= 7
