"""The evaluation results as one rich table: a row per policy, a column per suite metric."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from align.console import console


def metric_columns(models: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(suite, metric) pairs in first-seen order across policies."""
    seen: dict[tuple[str, str], None] = {}
    for entry in models.values():
        for suite, result in entry["suites"].items():
            for metric in result.get("metrics", {}):
                seen.setdefault((suite, metric), None)
    return list(seen)


def format_value(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def results_table(results: dict[str, Any]) -> Table:
    models = results["models"]
    table = Table(title=f"evaluation: {results['target']}", title_justify="left")
    table.add_column("model")
    columns = metric_columns(models)
    sizes = {s: r.get("n") for entry in models.values() for s, r in entry["suites"].items() if "n" in r}
    for suite, metric in columns:
        table.add_column(f"{suite} {metric}\n(n={sizes.get(suite)})", justify="right")
    for name, entry in models.items():
        cells = [format_value(entry["suites"].get(s, {}).get("metrics", {}).get(m)) for s, m in columns]
        table.add_row(name, *cells)
    return table


def skipped_notes(results: dict[str, Any]) -> dict[str, str]:
    """Why each skipped suite was skipped (the same reason for every policy, so said once)."""
    return {
        suite: result["skipped"]
        for entry in results["models"].values()
        for suite, result in entry["suites"].items()
        if "skipped" in result
    }


def print_results(results: dict[str, Any], written_to: str | None) -> None:
    console.print(results_table(results))
    for suite, reason in skipped_notes(results).items():
        console.print(Text.assemble((f"{suite} skipped", "yellow"), f": {reason}"))
    if written_to:
        console.print(f"results: {written_to}")
