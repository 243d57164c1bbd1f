"""Math: greedy answer accuracy (and pass@k from samples) on held-out problems with exact answers.

Prompts come from the shipped held-out set `data/math/eval.jsonl` (`prompt`, `answer`, `key`), any local file with
those columns, or a hub dataset for users with access: `openai/gsm8k` (test split, answers after `####`).
"""

from __future__ import annotations

from tqdm.auto import tqdm

from align.config.schema import DataSpec
from align.data.load import load_prompts
from align.evaluation.groups import group_labels
from align.evaluation.metrics import (
    accuracy,
    correct_per_problem,
    mean_pass_at_k,
    pass_at_k_per_problem,
    reported_ks,
    sample_counts,
)
from align.evaluation.settings import EvalSettings
from align.evaluation.suites.base import PreparedSuite, data_spec, examples
from reward import Verdict, get_verifier

DEFAULT_DATA = "data/math/eval.jsonl"
MAX_NEW_TOKENS = 256
# Hub sets whose layout differs from ours: their config, split and question column.
HUB_PRESETS = {
    "openai/gsm8k": {"subset": "main", "split": "test", "prompt_column": "question"},
    "gsm8k": {"path": "openai/gsm8k", "subset": "main", "split": "test", "prompt_column": "question"},
}


def reference(answer: object) -> str:
    """GSM8K answers are worked solutions ending in `#### 72`; the number after the marker is the answer."""
    text = str(answer)
    return text.rsplit("####", 1)[1].strip() if "####" in text else text.strip()


def prepare(settings: EvalSettings) -> PreparedSuite:
    spec = data_spec(
        settings.math_data, settings.limit, default=DEFAULT_DATA, option="--math-data", hub_presets=HUB_PRESETS
    )
    return prepare_rows("math", spec, settings)


def prepare_rows(name: str, spec: DataSpec, settings: EvalSettings) -> PreparedSuite:
    """A math suite over `spec`'s rows: `prompt` and `answer`, and an optional `key` grouping rows that ask
    the same problem in other words (the statistics resample keys, not rows, when it is there)."""
    rows = load_prompts(spec, required=get_verifier("math").columns).to_list()
    prompts = [row["prompt"] for row in rows]
    references = [reference(row["answer"]) for row in rows]
    keys = [row.get("key") for row in rows]
    clusters = [str(k) for k in keys] if all(k is not None for k in keys) else None
    groups = group_labels(rows, settings.group_by)

    def score(greedy: list[str], sampled: list[list[str]] | None) -> dict:
        verdicts = _verify(greedy, references)
        greedy_accuracy = accuracy(verdicts)
        metrics = {"accuracy": greedy_accuracy.value}
        per_problem = {"accuracy": correct_per_problem(verdicts)}
        if sampled is not None:
            counts = [
                sample_counts(_verify(texts, [ref] * len(texts), progress=False))
                for texts, ref in zip(tqdm(sampled, desc="verifying samples", unit="problem"), references, strict=True)
            ]
            metrics |= {f"pass@{k}": mean_pass_at_k(counts, k) for k in reported_ks(len(sampled[0]))}
            per_problem |= {f"pass@{k}": pass_at_k_per_problem(counts, k) for k in reported_ks(len(sampled[0]))}
        return {
            "metrics": metrics,
            "per_problem": per_problem,
            **({"clusters": clusters} if clusters else {}),
            **({"groups": groups} if groups else {}),
            "n": len(references),
            "undecided": greedy_accuracy.undecided,
            "examples": examples(prompts, greedy, reference=references, correct=[v.score == 1.0 for v in verdicts]),
        }

    return PreparedSuite(name, prompts, score, settings.max_new_tokens or MAX_NEW_TOKENS, spec.path)


def _verify(completions: list[str], references: list[str], progress: bool = True) -> list[Verdict]:
    verifier = get_verifier("math")
    pairs = zip(completions, references, strict=True)
    bar = tqdm(pairs, total=len(references), desc="verifying", disable=not progress)
    return [verdict for c, r in bar for verdict in verifier.verify_batch([c], [{"answer": r}])]
