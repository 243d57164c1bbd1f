"""Instruction following: does each answer meet its prompt's code-checked constraints (IFEval, IFBench)?

Four metrics, IFEval's: prompt-level accuracy (every constraint met) and instruction-level accuracy (the share
of all constraints met), each strict (the answer as written) and loose (IFEval's lenient variants: first or
last line dropped, markdown asterisks removed). Prompts come from the shipped held-out set
`data/instruct/eval.jsonl`, any file in google/IFEval's row format, or a hub set (`google/IFEval`,
`allenai/IFBench_test`) for users with hub access.
"""

from __future__ import annotations

from typing import Any

from align.config.schema import DataSpec
from align.data.load import load_located_rows
from align.evaluation.groups import group_labels
from align.evaluation.settings import EvalSettings
from align.evaluation.suites.base import PreparedSuite, as_chat, data_spec, examples
from align.runtime.errors import AlignError
from reward import ConstraintResult, check_constraints, get_verifier

DEFAULT_DATA = "data/instruct/eval.jsonl"
# Long enough for a few short paragraphs; IFEval's own prompts ask for more, so hub users raise it.
MAX_NEW_TOKENS = 192
HUB_PRESETS = {
    "google/IFEval": {"split": "train"},
    "allenai/IFBench_test": {"split": "train"},
}


def prepare(settings: EvalSettings) -> PreparedSuite:
    spec = data_spec(
        settings.ifeval_data, settings.limit, default=DEFAULT_DATA, option="--ifeval-data", hub_presets=HUB_PRESETS
    )
    return prepare_rows("ifeval", spec, settings)


def load_ifeval_rows(spec: DataSpec) -> list[dict[str, Any]]:
    """The rows, each one checked to be judgeable here: a constraint type that cannot be checked offline (or
    a malformed row) stops the suite in one line naming the row, rather than scoring it as failed."""
    verifier = get_verifier("ifeval")
    rows = []
    for where, row in load_located_rows(spec):
        missing = verifier.missing_columns(k for k, v in row.items() if v is not None)
        problem = f"no '{missing[0]}' column" if missing else verifier.row_problem(row)
        if problem is not None:
            raise AlignError(f"{where}: {problem}")
        rows.append(row)
    return rows


def prepare_rows(name: str, spec: DataSpec, settings: EvalSettings) -> PreparedSuite:
    rows = load_ifeval_rows(spec)
    prompts = [as_chat(row["prompt"]) for row in rows]
    keys = [row.get("key") for row in rows]
    clusters = [str(k) for k in keys] if all(k is not None for k in keys) else None
    groups = group_labels(rows, settings.group_by)

    def score(greedy: list[str], sampled: list[list[str]] | None) -> dict[str, Any]:
        judged = [check_constraints(answer, row) for answer, row in zip(greedy, rows, strict=True)]
        per_problem = constraint_metrics(judged)
        return {
            "metrics": {metric: sum(v) / len(v) for metric, v in per_problem.items()},
            "per_problem": per_problem,
            **({"clusters": clusters} if clusters else {}),
            **({"groups": groups} if groups else {}),
            "n": len(rows),
            "constraints": sum(len(results) for results in judged),
            "undecided": 0,
            "examples": examples(
                prompts,
                greedy,
                constraints=[[r.instruction_id for r in results] for results in judged],
                correct=[all(r.strict for r in results) for results in judged],
            ),
        }

    return PreparedSuite(name, prompts, score, settings.max_new_tokens or MAX_NEW_TOKENS, spec.path, sampled=False)


def constraint_metrics(judged: list[list[ConstraintResult]]) -> dict[str, list[float]]:
    """One value per prompt for each metric, whose mean over prompts is the metric.

    Prompt-level: 1/0. Instruction-level is pooled over constraints (IFEval's definition: Σ met / Σ constraints),
    so a prompt's value is its met count over the *mean* constraint count: then the mean over prompts is the
    pooled share exactly, and the bootstrap and paired tests, which resample prompts, resample it correctly.
    """
    mean_count = sum(len(results) for results in judged) / len(judged)
    metrics: dict[str, list[float]] = {}
    for mode in ("strict", "loose"):
        met = [[getattr(r, mode) for r in results] for results in judged]
        metrics[f"prompt_{mode}"] = [float(all(m)) for m in met]
        metrics[f"instruction_{mode}"] = [sum(m) / mean_count for m in met]
    return metrics
