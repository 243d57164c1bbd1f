"""Chat: mean score per reward dimension (truthfulness, helpfulness, ...) of greedy answers to held-out
prompts, judged by a trained six-head reward model (or an LLM judge), beside each answer's length and
repetition rate (suites/chat_result.py). Without a reward model or judge the suite is skipped, with the reason."""

from __future__ import annotations

import json
from pathlib import Path

from align.config.load import shipped_dirs
from align.config.paths import resolve_data_path
from align.config.schema import DataSpec
from align.data.load import load_located_rows
from align.evaluation.settings import EvalSettings
from align.evaluation.suites.base import PreparedSuite, SuiteUnavailableError, as_chat
from align.evaluation.suites.chat_result import chat_result
from align.runtime.errors import AlignError
from reward import prompt_text

# The first that exists: dedicated chat prompts if shipped, else the reward model's held-out prompts, whose
# questions and requests no training split uses.
DEFAULT_DATA = ("data/chat/eval.jsonl", "data/reward/eval.jsonl")
MAX_NEW_TOKENS = 256
NO_REWARD = (
    "no reward model: pass --reward FOLDER (a reward stage's artifact) or --judge MODEL_OR_URL, "
    "or add a reward stage to the run"
)


def prompts_path(data: str | None) -> str:
    search = [Path.cwd(), *shipped_dirs()]
    if data is not None:
        try:
            return resolve_data_path(data, search)
        except ValueError as err:
            raise AlignError(f"--chat-data: {err}") from None
    for candidate in DEFAULT_DATA:
        try:
            return resolve_data_path(candidate, search)
        except ValueError:
            continue
    raise SuiteUnavailableError(f"no held-out chat prompts ({' or '.join(DEFAULT_DATA)}); pass --chat-data FILE")


def prepare(settings: EvalSettings) -> PreparedSuite:
    if settings.reward is None and settings.judge is None:
        raise SuiteUnavailableError(NO_REWARD)
    path = prompts_path(settings.chat_data)
    # Preference files repeat a prompt once per pair; each prompt is answered once.
    unique: dict[str, str | list] = {}
    located = load_located_rows(DataSpec(path=path))
    # A row without a prompt is not skipped: a score over "the prompts that happened to have one" would change
    # what the suite measures without a word.
    missing = [where for where, row in located if row.get("prompt") is None]
    if missing:
        raise AlignError(f"{missing[0]}: no 'prompt' ({len(missing)} of {len(located)} rows have none)")
    for _, row in located:
        unique.setdefault(json.dumps(row["prompt"], sort_keys=True), row["prompt"])
    prompts = [as_chat(p) for p in unique.values()][: settings.limit]
    if settings.judge is not None:
        from align.evaluation.suites.judged import judged_scorer

        score = judged_scorer(settings.judge, prompts)
    else:
        score = model_scorer(settings.reward or "", prompts)
    return PreparedSuite("chat", prompts, score, settings.max_new_tokens or MAX_NEW_TOKENS, path, sampled=False)


def model_scorer(reward: str, prompts: list):
    """A chat-suite `score(greedy, sampled)` function reading the six heads of a trained reward model."""
    from reward import NotARewardModelError, RewardModel

    try:
        model = RewardModel.load(reward)
    except NotARewardModelError as err:
        raise SuiteUnavailableError(f"reward model unusable: {err}") from None

    def score(greedy: list[str], sampled: list[list[str]] | None) -> dict:
        rows = model.score([prompt_text(p) for p in prompts], greedy)
        return chat_result(prompts, greedy, rows, model.dimensions, undecided=0)

    return score
