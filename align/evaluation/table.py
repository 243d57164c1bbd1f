"""The evaluation results as one rich table: a row per policy, a column per suite metric."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from align.evaluation.textstats import FLAG_METRICS
from align.runtime.console import console


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


def interval_text(result: dict[str, Any] | None, metric: str) -> str:
    """A metric's 95 % interval as "[low, high]", or "" when the result has none (stored before intervals)."""
    found = ((result or {}).get("intervals") or {}).get(metric)
    return f"[{found[0]:.3f}, {found[1]:.3f}]" if found else ""


def format_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


CHANGE_HEADERS = ["change", "metric", "n", "before → after", "difference [95 % CI]", "p", "test"]


def change_rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per stage-to-stage change with a paired test (`comparisons` in the results)."""
    rows = []
    for c in results.get("comparisons") or []:
        test = c["test"]
        if c.get("improved") is not None:
            # A flag that turned on is not a fix: "says yes" is neither right nor wrong.
            turned = ("0→1", "1→0") if c["metric"] in FLAG_METRICS else ("fixed", "broken")
            test += f" ({c['improved']} {turned[0]}, {c['worsened']} {turned[1]})"
        rows.append(
            [
                f"{c['against']} → {c['model']}",
                f"{c['suite']} {c['metric']}",
                str(c["n"]),
                *change_cells(c),
                test,
            ]
        )
    return rows


def results_table(results: dict[str, Any]) -> Table:
    models = results["models"]
    table = Table(title=f"evaluation: {results['target']}", title_justify="left")
    table.add_column("model")
    columns = metric_columns(models)
    sizes = {s: r.get("n") for entry in models.values() for s, r in entry["suites"].items() if "n" in r}
    for suite, metric in columns:
        table.add_column(f"{suite} {metric}\n(n={sizes.get(suite)})", justify="right")
    for name, entry in models.items():
        cells = []
        for suite, metric in columns:
            result = entry["suites"].get(suite, {})
            value = format_value(result.get("metrics", {}).get(metric))
            cells.append("\n".join(filter(None, [value, interval_text(result, metric)])))
        table.add_row(name, *cells)
    return table


def changes_table(results: dict[str, Any]) -> Table | None:
    rows = change_rows(results)
    if not rows:
        return None
    table = Table(title="changes, paired on the same problems (95 % CI)", title_justify="left")
    for header in CHANGE_HEADERS:
        table.add_column(header, justify="left" if header in ("change", "metric", "test") else "right")
    for row in rows:
        table.add_row(*row)
    return table


def skipped_notes(results: dict[str, Any]) -> dict[str, str]:
    """Why each skipped suite was skipped (the same reason for every policy, so said once)."""
    return {
        suite: result["skipped"]
        for entry in results["models"].values()
        for suite, result in entry["suites"].items()
        if "skipped" in result
    }


def print_results(results: dict[str, Any], written_to: str | None, more: Sequence[Table] = ()) -> None:
    """The results table, the changes table, then `more` tables (the per-group ones), skipped suites, the file."""
    console.print(results_table(results))
    changes = changes_table(results)
    if changes is not None:
        console.print(changes)
    for table in more:
        console.print(table)
    for suite, reason in skipped_notes(results).items():
        console.print(Text.assemble((f"{suite} skipped", "yellow"), f": {reason}"))
    if written_to:
        console.print(f"results: {written_to}")


def change_cells(change: dict) -> list[str]:
    """A paired change as the tables print it: before → after, the difference with its interval, p."""
    return [
        f"{change['before']:.3f} → {change['after']:.3f}",
        f"{change['diff']:+.3f} [{change['low']:+.3f}, {change['high']:+.3f}]",
        format_p(change["p"]),
    ]
