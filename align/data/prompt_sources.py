"""A GRPO stage's prompts from several sources (`prompts: [spec, spec, ...]`), e.g. chat prompts beside
constraint prompts that a verifier checks and a reward model cannot be flattered into passing.

The sources are dealt out one row of each in turn, so any prefix of the prompts (prompt selection's candidates, a
short run) holds every source. Each row's `prompt_source` is its source's position in the list, for the
completions log and the per-source counts. A source carries the verifier's reference columns on every row
(verified) or on none (unverified: its rows' verifier rewards are None, which the total skips). A source that
mixes the two is refused: half a file without its references is far likelier a broken file than a plan, and its
bare rows would silently go unverified.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from align.config.schema import DataSpec, GRPOStage
from align.data.groups import dealt
from align.data.load import load_located_rows, load_prompts, prompt_row
from align.runtime.errors import AlignError, first_line
from reward import Verifier, get_verifier

if TYPE_CHECKING:
    from datasets import Dataset

SOURCE_COLUMN = "prompt_source"


@dataclass(frozen=True)
class PromptSource:
    """One source as loaded: its position in `prompts`, its path, its rows after `limit`, and whether the
    verifier judges them."""

    index: int
    path: str
    rows: int
    verified: bool


def reference_columns(verifier: Verifier | None) -> tuple[str, ...]:
    """The columns that say whether the verifier can judge a row. Every prompt row has a prompt (ifeval lists it
    among its columns, for "repeat the request" constraints), so the prompt tells nothing."""
    return tuple(c for c in verifier.columns if c != "prompt") if verifier else ()


def source_verified(located: Sequence[tuple[str, dict[str, Any]]], verifier: Verifier | None) -> bool:
    """Whether a source's rows carry the verifier's reference columns: all of them on every row (True) or none on
    any (False). Anything between is an AlignError naming the file and row."""
    columns = reference_columns(verifier)
    if verifier is None or not columns:
        return False
    verified = any(located[0][1].get(c) is not None for c in columns)
    for where, row in located:
        present = [c for c in columns if row.get(c) is not None]
        if verified and len(present) < len(columns):
            missing = next(c for c in columns if c not in present)
            raise AlignError(
                f"{where}: no '{missing}' column, which the {verifier.name} verifier needs: the source's first row "
                "carries its columns, and a prompts source carries them on every row or on none"
            )
        if not verified and present:
            raise AlignError(
                f"{where}: a '{present[0]}' column, but the source's first row carries none of the {verifier.name} "
                f"verifier's columns ({', '.join(columns)}); a prompts source carries them on every row or on none"
            )
    return verified


def require_verified_source(where: str, sources: Sequence[PromptSource], verifier: Verifier | None) -> None:
    """With a verifier, one source at least must be verified: otherwise every verifier reward is None."""
    if verifier is None or any(s.verified for s in sources):
        return
    paths = ", ".join(s.path for s in sources)
    raise AlignError(
        f"{where}: no source carries the {verifier.name} verifier's columns "
        f"({', '.join(reference_columns(verifier))}), so it would score nothing (sources: {paths})"
    )


def load_prompt_sources(
    specs: Sequence[DataSpec], verifier: Verifier | None, where: str
) -> tuple[Dataset, list[PromptSource]]:
    """The sources' rows dealt out one of each in turn, each with its `prompt_source`; a column some sources lack
    is None on their rows (one table for TRL)."""
    from datasets import Dataset

    per_source: list[list[dict[str, Any]]] = []
    sources: list[PromptSource] = []
    for index, spec in enumerate(specs):
        located = load_located_rows(spec)
        verified = source_verified(located, verifier)
        rows = []
        for at, row in located:
            if SOURCE_COLUMN in row:
                raise AlignError(f"{at}: a '{SOURCE_COLUMN}' column, which align sets to the row's source; rename it")
            rows.append({**prompt_row(row, spec, at), SOURCE_COLUMN: index})
        per_source.append(rows)
        sources.append(PromptSource(index, spec.path, len(rows), verified))
    require_verified_source(where, sources, verifier)
    mixed = dealt(per_source)
    keys = list(dict.fromkeys(key for row in mixed for key in row))
    try:
        return Dataset.from_list([{key: row.get(key) for key in keys} for row in mixed]), sources
    except (TypeError, ValueError) as err:  # pyarrow's ArrowTypeError / ArrowInvalid
        raise AlignError(
            f"{where}: the sources' rows do not fit one table ({first_line(err)}); a column two sources share must "
            "hold the same type in both"
        ) from None


def reference_rewards(stage: GRPOStage) -> dict[str, str]:
    """The stage's rewards of source 'reference', each with the prompts column it reads its reference answer from."""
    return {name: spec.column for name, spec in stage.rewards.items() if spec.source == "reference"}


def require_reference_columns(stage: GRPOStage, rows: Iterable[Mapping[str, Any]]) -> None:
    """Each 'reference' reward's column on one of the prompt rows at least. A row without it scores None, which is
    not counted as a failure (a source may ship no references), so on no row the reward would silently score
    nothing."""
    wanted = reference_rewards(stage)
    if not wanted:
        return
    carried: set[str] = set()
    for row in rows:
        carried |= {column for column in wanted.values() if row.get(column) is not None}
        if len(carried) == len(set(wanted.values())):
            return
    name, column = next((n, c) for n, c in wanted.items() if c not in carried)
    paths = ", ".join(source.path for source in stage.prompt_sources)
    raise AlignError(
        f"stages.{stage.name}.rewards.{name}: source 'reference' reads each row's reference answer from a "
        f"'{column}' column, and no row of {paths} has one"
    )


def load_stage_prompts(stage: GRPOStage) -> tuple[Dataset, list[PromptSource]]:
    """A GRPO stage's prompt rows, and its sources when `prompts` is a list (none for one spec, whose rows must all
    carry the verifier's columns, as before lists existed)."""
    verifier = get_verifier(stage.verifier) if stage.verifier else None
    sources: list[PromptSource] = []
    if isinstance(stage.prompts, DataSpec):
        dataset = load_prompts(stage.prompts, required=verifier.columns if verifier else ())
    else:
        dataset, sources = load_prompt_sources(stage.prompts, verifier, f"stages.{stage.name}.prompts")
    require_reference_columns(stage, dataset)
    return dataset, sources
