"""Reward dimensions: one named score per criterion, usable directly as TRL reward functions.

A dimension is called the way TRL's GRPOTrainer calls a reward function,

    dimension(prompts=..., completions=..., completion_ids=..., **dataset_columns) -> list[float | None]

and `dimension.score(...)` gives the same scores as `Verdict`s with reasons. `__name__` is the dimension
name, which is what TRL logs the reward under. Prompts and completions may be plain strings or chat
message lists (`[{"role": "assistant", "content": ...}]`); extra keyword arguments TRL adds
(`trainer_state`, `log_metric`, ...) are ignored.

Three sources of scores:
- `ModelDimension`: one head of the six-head reward model. All heads built by `model_dimensions` share one
  loaded model and one per-batch cache, so six dimensions cost one forward pass per batch.
- `VerifierDimension`: a batch checker `(completions, rows) -> list[Verdict]` (a registered verifier), e.g.
  correctness from the math verifier on rows with an `answer` column. Rows without the reference score None.
- `RuleDimension`: a rule `(prompt, completion) -> Verdict`, e.g. `LengthBudget` for conciseness.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reward.result import Verdict

if TYPE_CHECKING:
    from reward.model.score import RewardModel

DIMENSIONS = ("truthfulness", "helpfulness", "conciseness", "relevance", "harmlessness", "debiasing")

Text = str | Sequence[Mapping[str, Any]]


def completion_text(completion: Text) -> str:
    """The assistant's answer: TRL passes a string, or for conversational data a list of messages. In an episode
    with tools (assistant turns, tool results, ...) the answer is the last assistant turn; reward functions that
    want the whole transcript read the messages themselves."""
    if isinstance(completion, str):
        return completion
    assistant = [m for m in completion if m.get("role") == "assistant"]
    return str((assistant or list(completion) or [{}])[-1].get("content") or "")


def prompt_text(prompt: Text) -> str:
    """The prompt as plain text; system messages are left out because they are rarely part of the task."""
    if isinstance(prompt, str):
        return prompt
    turns = [m for m in prompt if m.get("role") != "system"]
    return "\n".join(str(m.get("content", "")) for m in turns)


def rows_from_columns(n: int, columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-row dicts of the dataset columns TRL passes; non-column kwargs (trainer_state, ...) are dropped."""
    per_row = {k: v for k, v in columns.items() if isinstance(v, list | tuple) and len(v) == n}
    return [{k: v[i] for k, v in per_row.items()} for i in range(n)]


class Dimension(ABC):
    """A named reward criterion. Subclasses implement `score`; `__call__` is the TRL reward function."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.__name__ = name
        # Verdict flags seen by the reward-function calls (e.g. sandbox_unisolated), for the stage's manifest.
        self.flags: Counter[str] = Counter()

    @abstractmethod
    def score(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[Verdict]:
        """One Verdict per completion; `score=None` where this dimension cannot judge the row."""

    def __call__(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[float | None]:
        verdicts = self.score(prompts, completions, **columns)
        self.flags.update(flag for v in verdicts for flag in v.flags)
        return [v.score for v in verdicts]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class BatchScorer:
    """Runs the reward model once per batch and serves every head from that one result.

    TRL calls all reward functions on the same batch one after another, so remembering the last batch is
    enough for six heads to share one forward pass; a new batch replaces it.
    """

    def __init__(self, model: RewardModel, batch_size: int = 16, dimensions: Sequence[str] | None = None) -> None:
        self.model = model
        self.batch_size = batch_size
        self.dimensions = dimensions  # the heads in use; None = all
        self.forward_passes = 0  # batches actually run through the model, for tests and logging
        self._key: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._scores: list[dict[str, float]] = []

    def scores(self, prompts: Sequence[str], completions: Sequence[str]) -> list[dict[str, float]]:
        key = (tuple(prompts), tuple(completions))
        if key != self._key:
            self._scores = self.model.score(
                list(prompts), list(completions), batch_size=self.batch_size, dimensions=self.dimensions
            )
            self._key = key
            self.forward_passes += 1
        return self._scores


class ModelDimension(Dimension):
    """One head of the trained reward model, read from a shared `BatchScorer`."""

    def __init__(self, name: str, scorer: BatchScorer) -> None:
        if name not in scorer.model.dimensions:
            heads = ", ".join(scorer.model.dimensions)
            raise ValueError(f"reward model has no head {name!r}; its heads: {heads}")
        super().__init__(name)
        self.scorer = scorer

    def score(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[Verdict]:
        texts = [completion_text(c) for c in completions]
        scores = self.scorer.scores([prompt_text(p) for p in prompts], texts)
        return [Verdict(s[self.name], f"reward-model head {self.name}") for s in scores]


def model_dimensions(
    model: RewardModel | str | Path,
    names: Sequence[str] | None = None,
    batch_size: int = 16,
    device: str = "cpu",
) -> list[ModelDimension]:
    """One `ModelDimension` per head (or per name in `names`), all sharing one model and one cache.

    `model` is a loaded `RewardModel`, or the folder a reward stage saved one to (loaded onto `device`).
    """
    if isinstance(model, str | Path):
        from reward.model.score import RewardModel

        model = RewardModel.load(model, device=device)
    scorer = BatchScorer(model, batch_size=batch_size, dimensions=names)
    return [ModelDimension(name, scorer) for name in (names or model.dimensions)]


class VerifierDimension(Dimension):
    """Scores completions with a batch checker `(completion_texts, rows) -> list[Verdict]`, e.g. a registered
    verifier's `verify_batch`, so code runs on the sandbox pool in parallel.

    Each row holds the prompt text under "prompt" plus that row's dataset columns. Rows missing any of the
    `references` columns (or holding None there) get `Verdict(None, ...)` and never reach the checker.
    """

    def __init__(
        self,
        name: str,
        verify_batch: Callable[[Sequence[str], Sequence[Mapping[str, Any]]], list[Verdict]],
        references: Sequence[str] = (),
    ) -> None:
        super().__init__(name)
        self.verify_batch = verify_batch
        self.references = tuple(references)

    def score(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[Verdict]:
        # TRL passes the prompt apart from the other columns; a verifier may need it (ifeval's "repeat the request").
        rows = [
            {**row, "prompt": prompt_text(p)}
            for row, p in zip(rows_from_columns(len(completions), columns), prompts, strict=True)
        ]
        verdicts: list[Verdict | None] = [None] * len(completions)
        judged: list[int] = []
        for i, row in enumerate(rows):
            absent = [c for c in self.references if row.get(c) is None]
            if absent:
                verdicts[i] = Verdict(None, f"no {absent[0]!r} reference in this row")
            else:
                judged.append(i)
        texts = [completion_text(completions[i]) for i in judged]
        judged_rows = [rows[i] for i in judged]
        for i, verdict in zip(judged, self.verify_batch(texts, judged_rows) if judged else [], strict=True):
            verdicts[i] = verdict
        return [v for v in verdicts if v is not None]


class RuleDimension(Dimension):
    """Scores each completion with a rule `(prompt_text, completion_text) -> Verdict`."""

    def __init__(self, name: str, rule: Callable[[str, str], Verdict]) -> None:
        super().__init__(name)
        self.rule = rule

    def score(self, prompts: Sequence[Text], completions: Sequence[Text], **columns: Any) -> list[Verdict]:
        return [self.rule(prompt_text(p), completion_text(c)) for p, c in zip(prompts, completions, strict=True)]


class LengthBudget:
    """A conciseness rule: 1.0 up to `budget` words, falling linearly to 0.0 at `decay_to` × budget, 0.0 beyond."""

    def __init__(self, budget: int, decay_to: float = 2.0) -> None:
        if budget <= 0 or decay_to <= 1.0:
            raise ValueError(f"need budget > 0 and decay_to > 1, got budget={budget}, decay_to={decay_to}")
        self.budget = budget
        self.decay_to = decay_to

    def __call__(self, prompt: str, completion: str) -> Verdict:
        n = len(completion.split())
        limit = self.decay_to * self.budget
        if n <= self.budget:
            return Verdict(1.0, f"{n} words within budget {self.budget}")
        if n >= limit:
            return Verdict(0.0, f"{n} words at or past {limit:g} ({self.decay_to:g}x budget)")
        score = 1.0 - (n - self.budget) / (limit - self.budget)
        return Verdict(score, f"{n} words over budget {self.budget}")
