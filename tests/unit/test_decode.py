"""align's sampling loop and merged sampling copy against the plain paths they replace, on a tiny random Qwen2."""

from __future__ import annotations

import pytest
import torch

from align.generation.decode import sample_ids
from align.generation.merged import MergedCopy

PROMPTS = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16], [20, 21, 22, 23, 24, 25, 26, 27, 28]]


@pytest.fixture(scope="module")
def model():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=96,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).eval()


def plain_greedy(model, prompt: list[int], tokens: int, eos: list[int] | None) -> list[int]:
    """One prompt alone through `generate`: no padding, nothing batched."""
    out = model.generate(
        torch.tensor([prompt]), max_new_tokens=tokens, do_sample=False, pad_token_id=0, eos_token_id=eos
    )
    return out[0, len(prompt) :].tolist()


def test_greedy_tokens_equal_generate(model):
    expected = [plain_greedy(model, p, 12, None) for p in PROMPTS]
    # Batch size 4 with n=2: two prompts per batch, left padding, a shared prefill per prompt.
    got = sample_ids(model, PROMPTS, n=2, max_new_tokens=12, eos_token_ids=[95], pad_token_id=0, batch_size=4)
    assert [g[0] for g in got] == expected
    assert [g[1] for g in got] == expected


def test_finished_sequences_leave_the_batch_without_changing_the_others(model):
    free = [plain_greedy(model, p, 12, None) for p in PROMPTS]
    # An EOS that one prompt emits mid-answer and another never does: that row leaves the batch early.
    eos = next(t for t in free[1][2:10] if t not in free[0])
    expected = [plain_greedy(model, p, 12, [eos]) for p in PROMPTS]
    assert any(len(e) < 12 for e in expected) and any(len(e) == 12 for e in expected)
    got = sample_ids(model, PROMPTS, n=3, max_new_tokens=12, eos_token_ids=[eos], pad_token_id=0, batch_size=12)
    assert [g[0] for g in got] == expected
    assert all(g[0] == g[2] for g in got)


def test_min_new_tokens_keeps_eos_out(model):
    eos = plain_greedy(model, PROMPTS[0], 1, None)  # the very first greedy token
    got = sample_ids(model, PROMPTS[:1], max_new_tokens=6, min_new_tokens=6, eos_token_ids=eos, pad_token_id=0)
    assert len(got[0][0]) == 6 and eos[0] not in got[0][0]


def test_sampling_is_reproducible_per_seed_and_varies_across_seeds(model):
    def draw(seed):
        return sample_ids(
            model,
            PROMPTS,
            n=4,
            max_new_tokens=8,
            temperature=1.0,
            top_p=0.9,
            eos_token_ids=[95],
            pad_token_id=0,
            seed=seed,
        )

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_merged_copy_matches_the_adapter_and_follows_its_updates(model):
    import copy

    from peft import LoraConfig, get_peft_model

    policy = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for name, param in policy.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    merged = MergedCopy(policy)
    ids = torch.tensor([PROMPTS[3]])
    with torch.no_grad():
        assert torch.allclose(merged.model(ids).logits, policy(ids).logits, atol=1e-5)
        for name, param in policy.named_parameters():  # an optimiser step
            if "lora_" in name:
                param.add_(torch.randn_like(param) * 0.1)
        assert not torch.allclose(merged.model(ids).logits, policy(ids).logits, atol=1e-3)
        merged.sync()
        assert torch.allclose(merged.model(ids).logits, policy(ids).logits, atol=1e-5)
    # Only the adapted linears are copied: embeddings (tied to the LM head) are the policy's own tensors.
    embed = policy.get_base_model().model.embed_tokens.weight
    assert merged.model.model.embed_tokens.weight.data_ptr() == embed.data_ptr()
    assert merged.model.lm_head.weight.data_ptr() == embed.data_ptr()


def test_static_cache_path_gives_the_same_greedy_tokens(model):
    free = [plain_greedy(model, p, 10, None) for p in PROMPTS]
    eos = next(t for t in free[1][2:8] if t not in free[0])
    expected = [plain_greedy(model, p, 10, [eos]) for p in PROMPTS]
    got = sample_ids(
        model, PROMPTS, n=2, max_new_tokens=10, eos_token_ids=[eos], pad_token_id=0, batch_size=8, static=True
    )
    assert [g[0] for g in got] == expected and [g[1] for g in got] == expected


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p", "spread"),
    [(0.8, 0, 0.95, 4.0), (1.0, 0, 0.9, 0.1), (0.7, 20, 0.9, 4.0), (1.3, 5, 1.0, 4.0), (1.0, 0, 1.0, 4.0)],
)
def test_nucleus_sampling_keeps_generates_tokens_with_generates_probabilities(temperature, top_k, top_p, spread):
    """Peaked rows take the candidate path, flat ones (spread 0.1) the full sort: both give the warpers' law."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    from align.generation.nucleus import Sampling

    torch.manual_seed(0)
    logits = torch.randn(6, 5000) * spread
    expected = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_k:
        expected = TopKLogitsWarper(top_k)(None, expected)
    if top_p < 1:
        expected = TopPLogitsWarper(top_p)(None, expected)
    expected = expected.softmax(-1)
    probs, ids = Sampling(temperature, top_k, top_p).candidates(logits)
    assert (ids is not None) == (spread > 1 and (top_k > 0 or top_p < 1))  # which path ran
    full = torch.zeros_like(logits).scatter(1, ids, probs) if ids is not None else probs
    assert torch.equal(full > 0, expected > 0)  # the same tokens can be drawn
    torch.testing.assert_close(full, expected, rtol=1e-4, atol=1e-7)


def test_draw_follows_the_probabilities_and_never_picks_a_zero():
    from align.generation.nucleus import draw

    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20_000, 1)
    picks = draw(probs, torch.Generator().manual_seed(0)).squeeze(1)
    frequencies = torch.bincount(picks, minlength=6).float() / len(picks)
    assert frequencies[[0, 2, 5]].sum() == 0
    torch.testing.assert_close(frequencies, probs[0], atol=0.01, rtol=0)


def test_grouped_attention_equals_transformers_sdpa_and_is_switched_back(model):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from align.generation.attention import NAME, grouped_attention, grouped_sdpa

    layer = model.model.layers[0].self_attn
    assert layer.num_key_value_groups == 2  # 4 query heads over 2 KV heads: the grouped path runs
    torch.manual_seed(0)
    query, key, value = torch.randn(3, 4, 1, 8), torch.randn(3, 2, 9, 8), torch.randn(3, 2, 9, 8)
    mask = torch.ones(3, 1, 1, 9, dtype=torch.bool)
    mask[0, ..., :4] = False  # a left-padded row
    expected, _ = sdpa_attention_forward(layer, query, key, value, mask, scaling=0.35)
    got, _ = grouped_sdpa(layer, query, key, value, mask, scaling=0.35)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert model.config._attn_implementation == "sdpa"
    with grouped_attention(model):
        assert model.config._attn_implementation == NAME
    assert model.config._attn_implementation == "sdpa"


def test_reserved_cache_holds_what_a_dynamic_cache_holds_through_repeats_and_drops(model):
    from transformers import DynamicCache

    from align.generation.kv_cache import ReservedLayer, reserved_cache

    reserved, plain = reserved_cache(model.config, reserve=3), DynamicCache(config=model.config)
    assert all(isinstance(layer, ReservedLayer) for layer in reserved.layers)
    torch.manual_seed(0)
    steps = [torch.randn(2, 2, 4, 8)] + [torch.randn(4, 2, 1, 8) for _ in range(5)]  # prefill, then 5 tokens
    for step, states in enumerate(steps):
        if step == 1:  # each prompt's cache repeated for 2 samples
            reserved.batch_repeat_interleave(2), plain.batch_repeat_interleave(2)
        if step == 3:  # a finished row leaves the batch
            keep = torch.tensor([0, 2, 3])
            reserved.batch_select_indices(keep), plain.batch_select_indices(keep)
        states = states[: 3 if step >= 3 else None]
        for layer in range(len(plain.layers)):
            got = reserved.update(states, -states, layer)
            expected = plain.update(states, -states, layer)
            assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    # 4 prompt tokens + 5 decoded, past the first buffer's room (4 + 3): the layer grew without losing tokens.
    assert reserved.get_seq_length() == plain.get_seq_length() == 9
