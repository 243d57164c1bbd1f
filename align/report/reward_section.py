"""The report's "Reward model" section: each reward stage's pairwise accuracy per dimension on its held-out
pairs and on its probe pairs (hand-written in other styles), read from the stage's manifest metrics."""

from __future__ import annotations

from align.artifacts.contract import StageFolder
from align.report.markdown import table
from reward import DIMENSIONS

# (accuracy, pair count) metric prefixes of the reward stage, in column order.
COLUMNS = {"held-out": ("accuracy/", "eval_pairs/"), "probe": ("probe_accuracy/", "probe_pairs/")}


def reward_section(stages: list[StageFolder]) -> str:
    parts = []
    for stage in stages:
        if stage.kind != "reward":
            continue
        metrics = stage.metrics
        names = [
            key.split("/", 1)[1]
            for key in metrics
            if key.startswith(tuple(accuracy for accuracy, _ in COLUMNS.values())) and not key.endswith("/mean")
        ]
        # The project's dimension order, whatever order the manifest stored its metrics in.
        dimensions = sorted(set(names), key=lambda d: (DIMENSIONS.index(d) if d in DIMENSIONS else len(DIMENSIONS), d))
        if not dimensions:
            continue
        rows = [[d, *(_accuracy(metrics, *prefixes, d) for prefixes in COLUMNS.values())] for d in dimensions]
        rows.append(["mean", *(_accuracy(metrics, accuracy, None, "mean") for accuracy, _ in COLUMNS.values())])
        parts.append(f"### {stage.name}\n\n" + table(["dimension", *(f"{c} accuracy" for c in COLUMNS)], rows))
    if not parts:
        return ""
    intro = (
        "Pairwise accuracy: the share of pairs on which the head of the pair's dimension scores the chosen "
        "answer above the rejected one (chance 0.5; pairs in parentheses). Held-out: the stage's `eval_data`; "
        "probe: its `probe_data`, pairs written unlike the training templates — the text a reward model meets "
        "when a policy drifts from them."
    )
    return "## Reward model\n\n" + "\n\n".join([intro, *parts])


def _accuracy(metrics: dict, accuracy: str, pairs: str | None, dimension: str) -> str | None:
    value = metrics.get(accuracy + dimension)
    if value is None:
        return None
    count = metrics.get(pairs + dimension) if pairs else None
    return f"{value:.3f}" + (f" ({count:.0f})" if count is not None else "")
