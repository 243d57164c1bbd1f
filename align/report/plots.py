"""The report's PNG plots. Drawn on `matplotlib.figure.Figure` directly (the Agg canvas, no pyplot), so
building a report never opens a window nor shares global figure state with the caller."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from align.evaluation.textstats import DESCRIPTIVE_METRICS
from align.report.history import Curve, curve, dimension_keys, reward_keys, spread_key

DPI = 110


def _figure(title: str, width: float = 7.0, height: float = 3.6) -> tuple[Figure, Any]:
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    return figure, axes


def _draw(axes: Any, data: Curve, label: str, band: Curve | None = None) -> None:
    steps, values = data
    axes.plot(steps, values, label=label, marker="o" if len(steps) <= 20 else None, markersize=3)
    if band is not None and band[0] == steps:
        low = [v - s for v, s in zip(values, band[1], strict=True)]
        high = [v + s for v, s in zip(values, band[1], strict=True)]
        axes.fill_between(steps, low, high, alpha=0.2)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def plot_loss(stage: str, history: list[dict[str, Any]], path: Path) -> Path | None:
    curves = {label: curve(history, key) for key, label in (("loss", "train"), ("eval_loss", "eval"))}
    curves = {label: c for label, c in curves.items() if c[0]}
    if not curves:
        return None
    figure, axes = _figure(f"{stage}: loss")
    for label, data in curves.items():
        _draw(axes, data, label)
    axes.set_ylabel("loss")
    axes.legend()
    return _save(figure, path)


def plot_rewards(stage: str, history: list[dict[str, Any]], path: Path) -> Path | None:
    keys = reward_keys(history)
    if not keys:
        return None
    figure, axes = _figure(f"{stage}: rewards")
    for key in keys:
        spread = spread_key(history, key)
        _draw(axes, curve(history, key), key, curve(history, spread) if spread else None)
    axes.legend(fontsize="small")
    return _save(figure, path)


def plot_dimensions(stage: str, history: list[dict[str, Any]], path: Path) -> Path | None:
    dimensions = dimension_keys(history)
    if not dimensions:
        return None
    figure, axes = _figure(f"{stage}: reward per dimension (mean ± std over completions)")
    for name, key in dimensions.items():
        spread = spread_key(history, key)
        _draw(axes, curve(history, key), name, curve(history, spread) if spread else None)
    axes.legend(fontsize="small", ncols=2)
    return _save(figure, path)


def plot_eval(models: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """One panel per suite, bars grouped by metric, one colour per policy. Answer length and repetition are
    left to the tables: they are not scores, and a word count would flatten every bar beside it."""
    panels: dict[str, list[str]] = {}
    for entry in models.values():
        for suite, result in entry["suites"].items():
            for metric in result.get("metrics", {}):
                if metric in DESCRIPTIVE_METRICS:
                    continue
                if metric not in panels.setdefault(suite, []):
                    panels[suite].append(metric)
    if not panels:
        return None
    figure = Figure(figsize=(4.2 * len(panels) + 1, 3.6), layout="constrained")
    width = 0.8 / max(len(models), 1)
    for index, (suite, metrics) in enumerate(panels.items()):
        axes = figure.add_subplot(1, len(panels), index + 1)
        axes.set_title(suite)
        axes.grid(axis="y", alpha=0.3)
        for offset, (name, entry) in enumerate(models.items()):
            values = entry["suites"].get(suite, {}).get("metrics", {})
            heights = [values.get(m) if values.get(m) is not None else float("nan") for m in metrics]
            positions = [i + offset * width - 0.4 + width / 2 for i in range(len(metrics))]
            bars = axes.bar(positions, heights, width, label=name)
            axes.bar_label(bars, labels=["" if math.isnan(h) else f"{h:.2f}" for h in heights], fontsize="x-small")
        axes.set_xticks(range(len(metrics)), metrics, rotation=30 if len(metrics) > 3 else 0)
        axes.axhline(0, color="black", linewidth=0.6)
    figure.axes[0].legend(fontsize="small")
    return _save(figure, path)
