"""The report's sections, each a markdown string built from what the run folder holds (empty when it
holds nothing for that section)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from align.artifacts.contract import COMPLETIONS, LOSS_COUNTS, PAIR_STATS, StageFolder, read_json_artifact
from align.evaluation.table import CHANGE_HEADERS, change_rows, interval_text, metric_columns, skipped_notes
from align.evaluation.textstats import DESCRIPTIONS, DESCRIPTIVE_METRICS
from align.report.history import read_log_history
from align.report.markdown import image, table
from align.report.pair_groups import pair_groups_text
from align.report.plots import plot_dimensions, plot_eval, plot_loss, plot_rewards
from align.runtime.errors import AlignError
from reward import read_jsonl

PLOTS = "plots"
SHOWN_COMPLETIONS = 3


def stages_section(stages: list[StageFolder]) -> str:
    rows = []
    for stage in stages:
        metrics = stage.metrics
        loss = (
            f"{metrics['loss_first']:.4g} → {metrics['loss_last']:.4g}"
            if "loss_first" in metrics and "loss_last" in metrics
            else None
        )
        wall = stage.manifest.wall_time_s if stage.manifest else None
        status = "complete" if stage.complete else "interrupted"
        rows.append([stage.name, stage.kind, status, metrics.get("steps"), loss, f"{wall:.0f} s" if wall else None])
    return "## Stages\n\n" + table(["stage", "kind", "status", "steps", "loss first → last", "wall time"], rows)


def losses_section(stages: list[StageFolder]) -> str:
    """Every row cut, step skipped and score lost that a stage counted (LOSS_COUNTS), or nothing when none was."""
    rows = []
    for stage in stages:
        for key in LOSS_COUNTS:
            value = stage.metrics.get(key)
            counts = value if isinstance(value, dict) else {"": value}
            rows += [[stage.name, f"{key}[{cause}]" if cause else key, n] for cause, n in counts.items() if n]
    if not rows:
        return ""
    return "## Cut, skipped or lost\n\n" + table(["stage", "count", "n"], rows)


def curves_section(stages: list[StageFolder], run_dir: Path) -> str:
    parts = []
    for stage in stages:
        history = read_log_history(stage.path)
        if not history:
            continue
        drawn = [
            (what, plot(stage.name, history, run_dir / PLOTS / f"{stage.name}-{what}.png"))
            for what, plot in (("loss", plot_loss), ("rewards", plot_rewards), ("dimensions", plot_dimensions))
        ]
        images = [image(f"{stage.name} {what}", f"{PLOTS}/{path.name}") for what, path in drawn if path is not None]
        if images:
            parts.append(f"### {stage.name} ({stage.kind})\n\n" + "\n".join(images))
    return "## Training curves\n\n" + "\n\n".join(parts) if parts else ""


def eval_section(results: dict[str, Any] | None, run_dir: Path) -> str:
    if not results:
        return f"## Evaluation\n\nNo evaluation yet: run `align eval {run_dir}` and rebuild the report."
    models = results["models"]
    settings = results.get("settings", {})
    columns = metric_columns(models)
    rows = _metric_rows(models, columns)
    parts = [
        "## Evaluation",
        f"Suites: {', '.join(settings.get('suites', []))} · samples per prompt: {settings.get('samples', 1)} · "
        f"limit: {settings.get('limit') or 'all'} · evaluated {results.get('created_at', '?')}. "
        "In parentheses: the change from the policy each stage started from (its `init` stage, else the base "
        "model; none after an adapter trained elsewhere); "
        "below each metric, its 95 % interval (bootstrap over problems).",
    ]
    plot = plot_eval(models, run_dir / PLOTS / "eval.png")
    if plot is not None:
        parts.append(image("evaluation", f"{PLOTS}/{plot.name}"))
    if rows:
        parts.append(table(["metric", *models], rows))
    descriptive = sorted({metric for _, metric in columns if metric in DESCRIPTIVE_METRICS})
    if descriptive:
        parts.append(_descriptive_caveat(descriptive))
    changes = change_rows(results)
    if changes:
        parts.append(_changes_text(results.get("statistics") or {}, changes))
    notes = skipped_notes(results)
    if notes:
        parts.append("\n".join(f"- **{suite}** skipped: {reason}" for suite, reason in notes.items()))
    return "\n\n".join(parts)


def _metric_rows(models: dict[str, Any], columns: list[tuple[str, str]]) -> list[list[object]]:
    """One row per (suite, metric) with each policy's value and its change, then its intervals when there are any."""
    sizes = {s: r.get("n") for e in models.values() for s, r in e["suites"].items() if "n" in r}
    rows: list[list[object]] = []
    for suite, metric in columns:
        rows.append(
            [
                f"{suite} {metric} (n={sizes.get(suite)})",
                *(_with_delta(e, models, suite, metric) for e in models.values()),
            ]
        )
        intervals = [interval_text(entry["suites"].get(suite), metric) for entry in models.values()]
        if any(intervals):
            rows.append(["↳ 95 % interval", *(i or None for i in intervals)])
    return rows


def _descriptive_caveat(metrics: list[str]) -> str:
    return (
        f"{', '.join(f'`{m}` ({DESCRIPTIONS[m]})' for m in metrics)} describe the answers, they do not "
        "grade them: a reward that rises together with length or repetition, or with answers that turned "
        "from saying no to saying yes, may have been gained by padding, repeating or agreeing, not by better "
        "answers."
    )


def _changes_text(stats: dict[str, Any], changes: list) -> str:
    return (
        "Each change, paired on the problems both policies were judged on: the difference with its 95 % "
        f"bootstrap interval ({stats.get('resamples', '?')} resamples of the problems, seed "
        f"{stats.get('seed', '?')}; whole problem keys where a key is asked in several wordings) and the "
        "p-value of McNemar's test for right/wrong answers (exact, or clustered when keys repeat) or of the "
        "paired bootstrap (pass@k, mean reward). An interval that excludes 0 is a change the eval set can "
        "see.\n\n" + table(CHANGE_HEADERS, changes)
    )


def _with_delta(entry: dict[str, Any], models: dict[str, Any], suite: str, metric: str) -> str:
    value = _metric(entry, suite, metric)
    if value is None:
        return "—"
    before = _metric(models.get(entry.get("init") or ""), suite, metric)
    return f"{value:.3f}" + (f" ({value - before:+.3f})" if before is not None else "")


def _metric(entry: dict[str, Any] | None, suite: str, metric: str) -> float | None:
    return ((entry or {}).get("suites", {}).get(suite, {}).get("metrics") or {}).get(metric)


def pairs_section(stages: list[StageFolder]) -> str:
    parts = []
    for stage in stages:
        stats = read_json_artifact(stage.path / PAIR_STATS)
        if not isinstance(stats, dict):
            continue
        headline = {k: v for k, v in stats.items() if not isinstance(v, dict)}
        headers = [key.replace("_", " ") for key in headline]
        parts.append(f"## Pair building: {stage.name}\n\n" + table(headers, [list(headline.values())]))
        skipped = stats.get("skipped") or {}
        if skipped:
            rows = sorted(skipped.items(), key=lambda kv: -kv[1])
            parts.append("Prompts that gave no pair, by reason:\n\n" + table(["reason", "prompts"], rows))
        groups = stats.get("groups") or {}
        if groups:
            parts.append(pair_groups_text(stats.get("by", "?"), groups))
        flags = stats.get("verifier_flags") or {}
        if flags:
            rows = sorted(flags.items())
            parts.append("Samples the verifier flagged (scored, but counted):\n\n" + table(["flag", "samples"], rows))
    return "\n\n".join(parts)


def samples_section(results: dict[str, Any] | None, stages: list[StageFolder]) -> str:
    """Answers to the same prompts side by side, one column per policy; else a stage's completions.jsonl."""
    parts = []
    models = (results or {}).get("models", {})
    suites = list(dict.fromkeys(s for entry in models.values() for s in entry["suites"]))
    for suite in suites:
        columns = {name: e["suites"].get(suite, {}).get("examples") or [] for name, e in models.items()}
        count = max(map(len, columns.values()), default=0)
        if not count:
            continue
        first = next(rows for rows in columns.values() if rows)
        headers = ["prompt", *(["reference"] if "reference" in first[0] else []), *columns]
        rows = []
        for i in range(count):
            row: list[object] = [first[i]["prompt"] if i < len(first) else None]
            if "reference" in first[0]:
                row.append(first[i].get("reference") if i < len(first) else None)
            row += [_answer(examples[i]) if i < len(examples) else None for examples in columns.values()]
            rows.append(row)
        parts.append(f"### {suite}\n\n" + table(headers, rows))
    if not parts:
        for stage in stages:
            # The last rows logged: what the policy wrote by the end of training.
            logged = _read_jsonl(stage.path / COMPLETIONS)[-SHOWN_COMPLETIONS:]
            if logged:
                shown = [[r.get("step"), _text(r.get("prompt")), _logged_answer(r), r.get("total")] for r in logged]
                headers = ["step", "prompt", "completion", "reward total"]
                parts.append(f"### {stage.name} (logged during training)\n\n" + table(headers, shown))
    return "## Sample completions\n\n" + "\n\n".join(parts) if parts else ""


def _answer(example: dict[str, Any]) -> str:
    verdict = next((example[k] for k in ("correct", "passed") if k in example), None)
    mark = "" if verdict is None else ("✓ " if verdict else "✗ ")
    return mark + str(example.get("completion") or "")


def _logged_answer(row: dict[str, Any]) -> str:
    """The completion, or every turn of an episode with tools: calls, tool results and the final answer."""
    turns = row.get("transcript")
    if not isinstance(turns, list):
        return _text(row.get("completion"))
    lines = []
    for turn in turns:
        if turn.get("role") == "tool":
            lines.append(f"[{turn.get('name')} returned] {turn.get('content')}")
            continue
        calls = [f"{c.get('name')}({json.dumps(c.get('arguments'))})" for c in turn.get("tool_calls") or []]
        if turn.get("malformed_call"):
            calls.append(f"malformed call: {turn['malformed_call']}")
        lines.append(" ".join([str(turn.get("content") or ""), *(f"[calls {c}]" for c in calls)]).strip())
    return "\n".join(lines)


def _text(value: object) -> str:
    """A prompt or completion as text, whether stored as a string or as chat messages."""
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return "" if value is None else str(value)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        return read_jsonl(path, torn_tail=True)
    except ValueError as err:  # a bad line before the last: the file is damaged, not cut short by a kill
        raise AlignError(f"{err}; restore or delete the file") from None
