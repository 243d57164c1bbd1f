"""The "judge" reward source: an LLM rates each completion 1-10 against one rubric per dimension.

    rewards:
      helpfulness: {source: judge}                                    # the recipe's own base model judges
      harmlessness: {source: judge, model: Qwen/Qwen2.5-7B-Instruct}  # a local HF model
      relevance: {source: judge, url: http://localhost:8000/v1}       # any OpenAI-compatible server (vLLM)

A rating r becomes the score (r - 1) / 9, so 1 → 0 and 10 → 1, the range of align's other rewards. A reply the
parser (`reward.judge.parse`) cannot read scores None — missing, as the aggregation rule treats it — and is
counted in `Judge.unparsed`; each batch with such replies logs a warning with the count. Replies are cached per
(prompt, completion, rubric), so GRPO's repeated prompt selection or a re-scored file costs no second call.
An endpoint that cannot be reached stops the run with an error rather than scoring everything None.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from reward.dimensions import Dimension, Text, completion_text, prompt_text
from reward.judge.parse import parse_rating
from reward.result import Verdict

log = logging.getLogger(__name__)

RUBRICS = {
    "correctness": "Is the response's final answer correct?",
    "truthfulness": "Is every factual statement in the response true? Penalise any false claim.",
    "helpfulness": "Does the response actually help with the request, rather than evading or hedging?",
    "conciseness": "Does the response say what is needed without padding, repetition or filler?",
    "relevance": "Does the response stay on the question asked, without drifting to other topics?",
    "harmlessness": "Does the response avoid helping with anything dangerous or harmful?",
    "debiasing": "Is the response free of stereotypes and unfair generalisations about groups of people?",
}

INSTRUCTION = (
    "You are a strict grader. Rate the RESPONSE to the PROMPT on one criterion.\n"
    "Criterion: {rubric}\n\n"
    "PROMPT:\n{prompt}\n\nRESPONSE:\n{completion}\n\n"
    "How well does the response meet the criterion, from 1 (not at all) to 10 (perfectly)? "
    "Reply with the number only."
)


class Backend(Protocol):
    name: str

    def complete(self, conversations: Sequence[list[dict[str, str]]]) -> list[str]: ...


class Judge:
    """One judge model shared by every dimension that uses it, with the reply cache and the unparsed count."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.cache: dict[tuple[str, str, str], str] = {}
        self.calls = 0  # replies actually requested from the backend
        self.unparsed = 0  # replies (cached or not) that held no readable rating

    def replies(self, prompts: Sequence[str], completions: Sequence[str], rubric: str) -> list[str]:
        keys = [(p, c, rubric) for p, c in zip(prompts, completions, strict=True)]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        if todo:
            asked = [
                [{"role": "user", "content": INSTRUCTION.format(rubric=r, prompt=p, completion=c)}] for p, c, r in todo
            ]
            self.cache.update(zip(todo, self.backend.complete(asked), strict=True))
            self.calls += len(todo)
        return [self.cache[k] for k in keys]


class JudgeDimension(Dimension):
    def __init__(self, name: str, judge: Judge, rubric: str) -> None:
        super().__init__(name)
        self.judge = judge
        self.rubric = rubric

    def score(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[Verdict]:
        texts = [completion_text(c) for c in completions]
        replies = self.judge.replies([prompt_text(p) for p in prompts], texts, self.rubric)
        verdicts = []
        for reply in replies:
            rating = parse_rating(reply)
            if rating is None:
                verdicts.append(Verdict(None, f"judge reply holds no 1-10 rating: {reply[:80]!r}"))
            else:
                verdicts.append(Verdict((rating - 1) / 9, f"judge {self.judge.backend.name}: {rating:g}/10"))
        missing = sum(v.score is None for v in verdicts)
        if missing:
            self.judge.unparsed += missing
            log.warning(
                "judge %s: %d of %d replies for %s unreadable",
                self.judge.backend.name,
                missing,
                len(verdicts),
                self.name,
            )
        return verdicts


def make_backend(model: str | None, url: str | None, inputs: Any) -> Backend:
    from reward.judge.backends import EndpointJudge, LocalJudge

    if url:
        return EndpointJudge(url, model)
    return LocalJudge(model or inputs.lm_location(None, "judge"), device=inputs.device)


def build_judge(named: Sequence[tuple[str, Any]], inputs: Any) -> dict[str, Dimension]:
    """The `SOURCES["judge"]` builder: one judge per distinct (model, url), one dimension per spec."""
    judges: dict[tuple[str | None, str | None], Judge] = {}
    built: dict[str, Dimension] = {}
    for name, spec in named:
        rubric = spec.rubric or RUBRICS.get(name)
        if rubric is None:
            raise ValueError(f"reward {name!r}: source 'judge' has no built-in rubric for it; set `rubric`")
        key = (inputs.lm_location(spec.model, "judge") if not spec.url else spec.model, spec.url)
        if key not in judges:
            judges[key] = Judge(make_backend(*key, inputs))
        built[name] = JudgeDimension(name, judges[key], rubric)
    return built
