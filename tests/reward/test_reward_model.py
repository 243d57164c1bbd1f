"""The six-head reward model: loss, pooling, save/load, training, and its use as TRL reward functions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertConfig, LlamaConfig, LlamaModel

from align.evaluation.stats import mcnemar_exact
from reward.dimensions import DIMENSIONS, model_dimensions
from reward.model import NotARewardModelError, RewardConfig, RewardModel, train_reward_model
from reward.model.heads import RewardHeads, default_pooling
from reward.model.loss import bradley_terry_loss, ratings_loss
from reward.model.rows import Pair, Rated, parse_rows
from reward.model.train import build_model

DATA = Path(__file__).resolve().parents[2] / "data" / "reward"


def pair_row(dimension: str, n: int = 0) -> dict[str, str]:
    return {
        "prompt": f"What is the capital of France? ({n})",
        "chosen": "Paris is the capital of France.",
        "rejected": "I'd rather not say.",
        "dimension": dimension,
    }


# --- loss ---------------------------------------------------------------------------------------------


def test_bradley_terry_loss_matches_hand_computed_value() -> None:
    chosen = torch.tensor([[2.0, 9.0, 9.0], [0.0, 9.0, 0.0]])
    rejected = torch.tensor([[1.0, -9.0, -9.0], [-9.0, -9.0, 3.0]])
    # pair 0 uses head 0: margin 1; pair 1 uses head 2: margin -3. The large margins elsewhere don't count.
    loss = bradley_terry_loss(chosen, rejected, torch.tensor([0, 2]))
    expected = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(3.0))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_bradley_terry_gradient_reaches_only_the_labelled_head() -> None:
    chosen = torch.zeros(2, 6, requires_grad=True)
    rejected = torch.zeros(2, 6, requires_grad=True)
    bradley_terry_loss(chosen, rejected, torch.tensor([1, 4])).backward()
    assert chosen.grad is not None and rejected.grad is not None
    expected_nonzero = torch.zeros(2, 6, dtype=torch.bool)
    expected_nonzero[0, 1] = expected_nonzero[1, 4] = True
    assert torch.equal(chosen.grad != 0, expected_nonzero)
    assert torch.equal(rejected.grad != 0, expected_nonzero)
    assert chosen.grad[0, 1].item() == pytest.approx(-0.25)  # d/dm of -log σ(m) at 0, over 2 pairs


def test_ratings_loss_uses_only_rated_cells() -> None:
    scores = torch.tensor([[0.0, 100.0], [0.0, 0.0]], requires_grad=True)
    ratings = torch.tensor([[1.0, 0.0], [0.5, 0.0]])
    rated = torch.tensor([[True, False], [True, False]])
    loss = ratings_loss(scores, ratings, rated)
    assert loss.item() == pytest.approx((0.5**2 + 0.0**2) / 2)
    loss.backward()
    assert scores.grad is not None and scores.grad[:, 1].abs().sum() == 0
    assert ratings_loss(scores, ratings, torch.zeros_like(rated)).item() == 0.0


def test_gradient_through_the_network_reaches_only_the_labelled_head(tiny_bert_path: Path) -> None:
    network = RewardHeads(AutoModel.from_pretrained(tiny_bert_path), len(DIMENSIONS), "mean")
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_path)
    inputs = tokenizer(["q", "q"], ["a long answer", "short"], padding=True, return_tensors="pt")
    scores = network(**inputs)
    conciseness = DIMENSIONS.index("conciseness")
    bradley_terry_loss(scores[:1], scores[1:], torch.tensor([conciseness])).backward()
    head_grad = network.heads.weight.grad
    assert head_grad is not None
    assert head_grad[conciseness].abs().sum() > 0
    assert head_grad[[d for d in range(len(DIMENSIONS)) if d != conciseness]].abs().sum() == 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in network.backbone.parameters())


# --- pooling ------------------------------------------------------------------------------------------


def test_default_pooling_is_mean_for_encoders_and_last_token_for_decoders() -> None:
    assert default_pooling(BertConfig()) == "mean"
    assert default_pooling(LlamaConfig()) == "last"


def test_last_token_pooling_ignores_padding_on_either_side() -> None:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    network = RewardHeads(LlamaModel(config), 6, "last").eval()
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        alone = network(ids, torch.ones_like(ids))
        right = network(torch.tensor([[5, 6, 7, 0, 0]]), torch.tensor([[1, 1, 1, 0, 0]]))
    assert torch.allclose(alone, right, atol=1e-5)
    last = network.pool(torch.arange(10.0).view(1, 5, 2), torch.tensor([[0, 0, 1, 1, 1]]))
    assert last.tolist() == [[8.0, 9.0]]  # left padding: the last position is the last real token


# --- artifact -----------------------------------------------------------------------------------------


def test_save_load_score_round_trip_gives_identical_scores(tiny_bert_path: Path, tmp_path: Path) -> None:
    torch.manual_seed(1)
    network = RewardHeads(AutoModel.from_pretrained(tiny_bert_path), len(DIMENSIONS), "mean").eval()
    config = RewardConfig(DIMENSIONS, "mean", 64, "tiny")
    model = RewardModel(network, AutoTokenizer.from_pretrained(tiny_bert_path), config)
    prompts = ["What is 2+2?", "Name a colour.", "Why is the sky blue?"]
    completions = ["4", "Blue, like the sky on a clear day in summer.", "Rayleigh scattering."]
    before = model.score(prompts, completions, batch_size=2)
    model.save(tmp_path)

    loaded = RewardModel.load(tmp_path)
    assert loaded.config == config
    assert loaded.score(prompts, completions, batch_size=2) == before
    assert set(before[0]) == set(DIMENSIONS)
    assert {"heads.safetensors", "reward_config.json", "config.json", "tokenizer.json"} <= {
        p.name for p in tmp_path.iterdir()
    }


def test_loading_a_folder_that_is_not_a_reward_model_fails_clearly(tiny_bert_path: Path, tmp_path: Path) -> None:
    with pytest.raises(NotARewardModelError, match="not a reward model"):
        RewardModel.load(tiny_bert_path)
    with pytest.raises(NotARewardModelError, match="no such folder"):
        RewardModel.load(tmp_path / "missing")


# --- training -----------------------------------------------------------------------------------------


def test_training_saves_a_loadable_model_and_reports_per_dimension_accuracy(
    tiny_bert_path: Path, tmp_path: Path
) -> None:
    train = [pair_row(d, n) for n in range(3) for d in DIMENSIONS]
    train.append({"prompt": "p", "completion": "c", "ratings": {"helpfulness": 0.75}})
    held_out = [pair_row(d, 9) for d in DIMENSIONS]
    out, logs = tmp_path / "model", tmp_path / "logs"
    metrics = train_reward_model(
        tiny_bert_path,
        train,
        held_out,
        output_dir=out,
        learning_rate=1e-3,
        epochs=1,
        batch_size=8,
        max_length=32,
        seed=0,
        max_steps=2,
        progress=False,
        log_dir=logs,
    )
    assert metrics["train/steps"] == 2
    assert {f"accuracy/{d}" for d in DIMENSIONS} <= set(metrics)
    assert all(0.0 <= metrics[f"accuracy/{d}"] <= 1.0 for d in DIMENSIONS)
    assert math.isfinite(metrics["train/loss"]) and math.isfinite(metrics["eval/loss"])
    assert json.loads((out / "reward_config.json").read_text())["max_length"] == 32
    assert len(RewardModel.load(out).score(["p"], ["c"])) == 1
    assert list(logs.glob("events.out.tfevents.*"))


def test_examples_longer_than_max_length_are_counted_and_strict_refuses_them(
    tiny_bert_path: Path, tmp_path: Path
) -> None:
    long = {"prompt": "p", "chosen": " ".join(["word"] * 60), "rejected": "no", "dimension": "helpfulness"}
    train = [pair_row("helpfulness", 1), long, {**long, "chosen": "no", "rejected": long["chosen"]}]
    args = {"output_dir": tmp_path / "m", "learning_rate": 1e-3, "batch_size": 2, "max_length": 32, "max_steps": 1}
    args |= {"epochs": 1, "seed": 0}
    metrics = train_reward_model(tiny_bert_path, train, [], progress=False, **args)
    assert metrics["train/truncated_rows"] == 2
    with pytest.raises(ValueError, match=r"^train_rows: 2 of 3 examples are longer than max_length=32 tokens"):
        train_reward_model(tiny_bert_path, train, [], progress=False, strict=True, **args)


def test_training_rows_are_validated_before_any_model_loads() -> None:
    with pytest.raises(ValueError, match="row 1: 'dimension' must be one of"):
        parse_rows([pair_row("helpfulness"), pair_row("politeness")], DIMENSIONS)
    with pytest.raises(ValueError, match="row 0: ratings"):
        parse_rows([{"prompt": "p", "completion": "c", "ratings": {"helpfulness": 4}}], DIMENSIONS)
    rated = {"prompt": "p", "completion": "c", "ratings": {"relevance": 1}}
    rows = parse_rows([pair_row("debiasing"), rated], DIMENSIONS)
    assert rows[0] == Pair(*list(pair_row("debiasing").values())[:3], DIMENSIONS.index("debiasing"))
    assert rows[1] == Rated("p", "c", {DIMENSIONS.index("relevance"): 1.0})


# --- as TRL reward functions --------------------------------------------------------------------------


def test_six_model_dimensions_share_one_forward_pass_per_batch(tiny_reward_model_path: Path) -> None:
    dims = model_dimensions(tiny_reward_model_path)
    assert [d.__name__ for d in dims] == list(DIMENSIONS)
    scorer = dims[0].scorer
    assert all(d.scorer is scorer for d in dims)

    prompts = ["What is 2+2?", "Say hi."]
    completions = [[{"role": "assistant", "content": "4"}], [{"role": "assistant", "content": "Hi!"}]]
    per_dimension = {d.name: d(prompts=prompts, completions=completions, completion_ids=[[1], [2]]) for d in dims}
    assert scorer.forward_passes == 1

    direct = scorer.model.score(prompts, ["4", "Hi!"])
    for name, scores in per_dimension.items():
        assert scores == [row[name] for row in direct]
    dims[0](prompts=prompts, completions=["4", "Hello!"])
    assert scorer.forward_passes == 2


def test_trl_logs_each_model_dimension_under_its_own_name(tiny_reward_model_path: Path) -> None:
    from trl.trainer.utils import get_callable_name

    assert [get_callable_name(d) for d in model_dimensions(tiny_reward_model_path)] == list(DIMENSIONS)


def test_model_dimension_for_an_unknown_head_is_an_error(tiny_reward_model_path: Path) -> None:
    with pytest.raises(ValueError, match="no head 'politeness'"):
        model_dimensions(tiny_reward_model_path, names=["politeness"])


# The real-model tests judge the dimensions the heads can learn: on held-out facts MiniLM stays near chance on
# truthfulness however long it trains (it lacks the world knowledge; see data/reward/README.md).
LEARNABLE = [d for d in DIMENSIONS if d != "truthfulness"]
# Held-out pairs per dimension in the short run: with 40, a dimension passes the sign test below at 29 right
# (0.725); the run gets 36-40 of 40 on each, so a few pairs flipping on another machine do not change the verdict.
SHORT_RUN_PAIRS = 40
SIGNIFICANCE = 0.01


def wins(model: RewardModel, pairs: list[dict[str, str]]) -> list[bool]:
    """Per pair: whether its dimension's head scores the chosen response above the rejected one (a tie loses)."""
    texts = list(dict.fromkeys((p["prompt"], p[side]) for p in pairs for side in ("chosen", "rejected")))
    scores = model.score_tensor([t[0] for t in texts], [t[1] for t in texts], batch_size=32, dimensions=())
    row = {text: i for i, text in enumerate(texts)}
    return [
        bool(scores[row[p["prompt"], p["chosen"]], d] > scores[row[p["prompt"], p["rejected"]], d])
        for p in pairs
        for d in [DIMENSIONS.index(p["dimension"])]
    ]


def test_real_minilm_learns_the_dimensions_above_chance(minilm_path: Path, tmp_path: Path, fixed_threads) -> None:
    """A short run on the shipped data; held-out pairs use other questions and other templates.

    Judged by tests on the counts, not by an accuracy threshold: each learnable dimension beats chance (exact
    sign test), and the trained model beats itself before training on the same pairs (exact McNemar), the
    comparison that rules out a random head that happens to prefer, say, the longer answer.
    """
    train = [json.loads(line) for line in (DATA / "train.jsonl").read_text().splitlines()]
    held_out = [json.loads(line) for line in (DATA / "eval.jsonl").read_text().splitlines()]
    pairs = [r for d in LEARNABLE for r in [r for r in held_out if r["dimension"] == d][:SHORT_RUN_PAIRS]]
    options = {"learning_rate": 3e-4, "epochs": 1, "batch_size": 16, "max_length": 128, "max_steps": 12}
    train_reward_model(minilm_path, train, [], output_dir=tmp_path, seed=0, progress=False, **options)
    after = wins(RewardModel.load(tmp_path), pairs)
    torch.manual_seed(0)  # as train_reward_model seeds before building its model: these are its starting weights
    before = wins(build_model(minilm_path, DIMENSIONS, None, options["max_length"]), pairs)

    right = {d: sum(w for w, p in zip(after, pairs, strict=True) if p["dimension"] == d) for d in LEARNABLE}
    # The two-sided exact sign test against chance is McNemar's exact test with "right" and "wrong" as the counts.
    chance = {d: mcnemar_exact(right[d], SHORT_RUN_PAIRS - right[d]) for d in LEARNABLE}
    improved = sum(a and not b for a, b in zip(after, before, strict=True))
    worsened = sum(b and not a for a, b in zip(after, before, strict=True))
    print(f"right of {SHORT_RUN_PAIRS}: {right}; sign-test p: {chance}; fixed {improved}, broke {worsened}")
    assert all(right[d] > SHORT_RUN_PAIRS / 2 and chance[d] < SIGNIFICANCE for d in LEARNABLE), (right, chance)
    assert improved > worsened and mcnemar_exact(improved, worsened) < SIGNIFICANCE, (improved, worsened)


@pytest.mark.slow
def test_default_recipe_reaches_the_documented_held_out_accuracy(
    minilm_path: Path, tmp_path: Path, fixed_threads
) -> None:
    """The recipe measured in data/reward/README.md: 60 steps of 16 pairs, every held-out pair."""
    metrics = train_reward_model(
        minilm_path,
        DATA / "train.jsonl",
        DATA / "eval.jsonl",
        output_dir=tmp_path,
        learning_rate=1e-4,
        epochs=1,
        batch_size=16,
        max_length=128,
        seed=0,
        max_steps=60,
        progress=False,
    )
    accuracies = {d: metrics[f"accuracy/{d}"] for d in DIMENSIONS}
    assert all(accuracies[d] >= 0.85 for d in DIMENSIONS if d != "truthfulness"), accuracies
