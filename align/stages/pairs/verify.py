"""Judge a batch's samples with the stage's verifier, so that a verifier that raises costs only its samples.

A verifier is user-pluggable code run over thousands of model outputs; one odd completion must not end pair
building after an hour of sampling. When the batch call fails, each sample is judged alone, and a sample whose
own call still fails becomes undecided (score None: neither chosen nor rejected), flagged `verifier_failed`
so the stage counts it.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from reward import Verdict, get_verifier

log = logging.getLogger(__name__)

FAILED = "verifier_failed"


def verify(kind: str, rows: list[dict[str, Any]], completions: list[list[str]]) -> list[list[Verdict]]:
    """Every sample judged in one batch (code: in parallel on the sandbox pool), regrouped per prompt."""
    flat_rows = [row for row, texts in zip(rows, completions, strict=True) for _ in texts]
    texts = [t for group in completions for t in group]
    flat = _judge(kind, texts, flat_rows)
    k = len(completions[0]) if completions else 0
    return [flat[i * k : (i + 1) * k] for i in range(len(rows))]


def _judge(kind: str, texts: list[str], rows: list[dict[str, Any]]) -> list[Verdict]:
    verifier = get_verifier(kind)
    try:
        verdicts = verifier.verify_batch(texts, rows)
        if len(verdicts) == len(texts):
            return verdicts
        log.warning("verifier %s gave %d verdicts for %d samples; judging each alone", kind, len(verdicts), len(texts))
    except Exception as err:  # any bug in a verifier: retried per sample below
        log.warning("verifier %s raised %s: %s; judging each sample alone", kind, type(err).__name__, err)
    return [_judge_one(kind, text, row) for text, row in zip(texts, rows, strict=True)]


def _judge_one(kind: str, text: str, row: dict[str, Any]) -> Verdict:
    try:
        (verdict,) = get_verifier(kind).verify_batch([text], [row])
        return verdict
    except Exception as err:
        return Verdict(None, f"verifier {kind} raised {type(err).__name__}: {err}", (FAILED,))


def flag_counts(verdicts: list[list[Verdict]]) -> dict[str, int]:
    """How many samples carry each flag (`verifier_failed`, `sandbox_unisolated`, ...)."""
    return dict(Counter(flag for group in verdicts for verdict in group for flag in verdict.flags))


def first_failure(verdicts: list[list[Verdict]]) -> str | None:
    return next((v.reason for group in verdicts for v in group if FAILED in v.flags), None)
