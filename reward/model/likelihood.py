"""Dimensions scored by what a causal LM believes: the mean log-probability it gives the response's tokens.

A 22M-parameter sentence encoder has not read enough to know that Augustus became emperor in 27 BC and not
AD 300, so no head on top of it learns truthfulness from a few hundred pairs (held-out accuracy 0.54). A
language model has read it: SmolLM2-135M-Instruct's mean token log-probability prefers the true response on
77 of the 90 held-out truthfulness pairs, untrained. The score is `scale * (mean_logprob - offset)`: `scale`
fitted by one-parameter Bradley–Terry on the training pairs, so the score lives on the same logit scale as
the trained heads, and `offset` centring the training responses on 0.

Relevance is scored by the same LM as pointwise mutual information: log p(response | prompt) minus
log p(response | an empty prompt), summed over the response's tokens, i.e. how much the question explains the
answer. A trained head learns relevance from the bank's templates and then prefers any fluent, fact-dense
answer: on the hand-written probe (data/reward/probe.jsonl) it ranks 8 of 11 relevance pairs right, choosing
"Flossing once a day removes plaque..." over "Every three to four months..." for "How often should I replace
my toothbrush?". Summed PMI, untrained, ranks 10 of 11 right, and 81 of the 90 held-out relevance pairs (the
head: 89). The per-token mean ranks more pairs right (11, 86) but pays for brevity, which GRPO then buys: the
chat SFT's answers cut to their first sentence scored +11.9 higher on average (their spread: 9.3), and GRPO's
answers fell from 43 to 15 words; summed, the cut scores 2.7 lower.

Truthfulness without world knowledge: with a reference answer shipped beside the prompt (as MT-Bench grades
maths and reasoning), `reference_guided` is how much the response's mean token log-prob rises when the
reference is in the context — a response that agrees with the reference is easier to predict after reading it,
a flipped one harder. The LM then only needs to read, not to know. Measured on data/reward/polarity.jsonl in
docs/rewards.md.

Like a PEFT adapter's `base_model_name_or_path`, the config names the LM (a folder or hub name) instead of
copying it: a 7B policy would otherwise be duplicated into every reward artifact.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch.nn import functional
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from reward.model.artifact import LikelihoodConfig, Reduction
from reward.model.rows import Pair

# PMI's baseline: the response after an empty user turn, so the chat template and system prompt are the same
# on both sides and only the question's words differ.
UNPROMPTED = ""


def with_reference(prompt: str, reference: str) -> str:
    """The user turn that shows `reference`: the question first, then the reference between MT-Bench's markers
    (its reference-guided judge prompt shows "[User Question]", then "[The Start of Reference Answer]" ...).
    Question first keeps the reference nearest the response, and the markers tell the LM the block is an answer
    to read, not more of the question; the response itself stays the assistant's turn, as in the plain score."""
    return f"{prompt}\n\n[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]"


class LikelihoodScorer:
    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_length: int) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def load(cls, location: str, max_length: int, device: str | torch.device = "cpu") -> LikelihoodScorer:
        """The LM on `device`: bf16 on GPUs that have it (it only scores; a 7B policy in fp32 would double its
        memory), fp32 on CPU, where bf16 is slower."""
        on_gpu = torch.device(device).type == "cuda"
        dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
        model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
        torch.nn.Module.to(model, device)  # in place; the bound `.to` is typed for strings only
        return cls(model, AutoTokenizer.from_pretrained(location), max_length)

    def _prefix(self, prompt: str) -> list[int]:
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        else:
            text = f"{prompt}\n\n"
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _body(self, response: str) -> list[int]:
        """The response's scored tokens: cut to leave one prompt token; an empty response scores its eos."""
        ids = self.tokenizer(response, add_special_tokens=False)["input_ids"][: self.max_length - 1]
        return ids or [self.tokenizer.eos_token_id]

    def _rows(self, prompts: Sequence[str], responses: Sequence[str]) -> list[tuple[list[int], int]]:
        """(token ids, index of the first response token); long prompts lose their start, never the response."""
        rows = []
        for prompt, response in zip(prompts, responses, strict=True):
            prefix = self._prefix(prompt)
            body = self._body(response)
            prefix = prefix[-(self.max_length - len(body)) :]
            rows.append((prefix + body, len(prefix)))
        return rows

    @torch.no_grad()
    def mean_logprob(self, prompts: Sequence[str], responses: Sequence[str], batch_size: int = 16) -> torch.Tensor:
        """Mean log p(token | everything before it) over each response's tokens, given its prompt."""
        rows = self._rows(prompts, responses)
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out = torch.empty(len(rows))
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(rows[i][0]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            scored = torch.zeros(len(chunk), width, dtype=torch.bool)
            for j, i in enumerate(chunk):
                tokens, first = rows[i]
                ids[j, : len(tokens)] = torch.tensor(tokens)
                scored[j, first : len(tokens)] = True
            attention = (torch.arange(width) < torch.tensor([len(rows[i][0]) for i in chunk])[:, None]).long()
            logits = self.model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits.float().cpu()
            # Position t predicts token t + 1.
            token_logprobs = functional.log_softmax(logits[:, :-1], -1).gather(2, ids[:, 1:, None]).squeeze(2)
            mask = scored[:, 1:].float()
            out[chunk] = (token_logprobs * mask).sum(1) / mask.sum(1)
        return out

    def pointwise_mi(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        batch_size: int = 16,
        prompted: torch.Tensor | None = None,
        reduction: Reduction = "sum",
    ) -> torch.Tensor:
        """log p(response | prompt) - log p(response | empty prompt), summed over the response's tokens (or their
        mean); `prompted`, the mean log-prob given the prompt, when the caller has it already."""
        if prompted is None:
            prompted = self.mean_logprob(prompts, responses, batch_size)
        per_token = prompted - self.mean_logprob([UNPROMPTED] * len(responses), responses, batch_size)
        if reduction == "mean":
            return per_token
        # Both passes score the same tokens, so the sum is the mean difference times their count.
        return per_token * torch.tensor([len(self._body(r)) for r in responses], dtype=per_token.dtype)

    def reference_guided(
        self,
        prompts: Sequence[str],
        responses: Sequence[str],
        references: Sequence[str],
        batch_size: int = 16,
        prompted: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """mean log p(response | prompt with the reference shown) - mean log p(response | prompt); `prompted`,
        the second term, when the caller has it already. The mean, like the plain truthfulness score, so a long
        response does not earn more for repeating the reference at length."""
        if prompted is None:
            prompted = self.mean_logprob(prompts, responses, batch_size)
        shown = [with_reference(p, r) for p, r in zip(prompts, references, strict=True)]
        return self.mean_logprob(shown, responses, batch_size) - prompted


def fit_scale(chosen: torch.Tensor, rejected: torch.Tensor, steps: int = 200) -> float:
    """The a ≥ 0 minimising mean -log σ(a · (chosen - rejected)): Bradley–Terry with one parameter."""
    margin = (chosen - rejected).double()
    log_a = torch.zeros((), dtype=torch.double, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_a], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = -functional.logsigmoid(log_a.exp() * margin).mean()
        loss.backward()
        return loss

    optimiser.step(closure)
    # Pairs the LM separates perfectly would push a to infinity.
    return float(log_a.detach().exp().clamp(max=1e4))


CALIBRATION_PAIRS = 128  # enough to fit one scale parameter; each pair costs two LM forward passes


def calibrate(
    scorer: LikelihoodScorer,
    location: str,
    pairs: Sequence[Pair],
    names: Sequence[str],
    dimensions: Sequence[str],
    seed: int,
    pmi: bool = False,
) -> tuple[LikelihoodConfig, dict[str, float]]:
    """Fit scale and offset on (a sample of) the training pairs labelled with `names`: of the mean log-prob, or
    with `pmi` of the pointwise mutual information (metrics then under `pmi/`, not `likelihood/`)."""
    label = "pmi" if pmi else "likelihood"
    wanted = {dimensions.index(name) for name in names}
    labelled = [p for p in pairs if p.dimension in wanted]
    if not labelled:
        raise ValueError(f"{label}: no training pairs labelled {', '.join(names)} to calibrate on")
    sample = random.Random(seed).sample(labelled, min(len(labelled), CALIBRATION_PAIRS))
    prompts, responses = [p.prompt for p in sample] * 2, [p.chosen for p in sample] + [p.rejected for p in sample]
    value = scorer.pointwise_mi(prompts, responses) if pmi else scorer.mean_logprob(prompts, responses)
    chosen, rejected = value[: len(sample)], value[len(sample) :]
    scale = fit_scale(chosen, rejected)
    config = LikelihoodConfig(location, tuple(names), scale, float(value.mean()), "sum" if pmi else "mean")
    metrics = {
        f"{label}/train_accuracy": (chosen > rejected).float().mean().item(),
        f"{label}/scale": scale,
        f"{label}/pairs": float(len(sample)),
    }
    return config, metrics
