"""Every N steps, the batch's prompts, completions and per-reward scores as jsonl and a TensorBoard table."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from align.agents.transcript import is_episode, transcript
from align.data.prompt_sources import SOURCE_COLUMN
from reward import completion_text, prompt_text, row_total


@dataclass
class LastBatch:
    """The batch TRL scored most recently: written by every `RecordingReward`, read by `CompletionsLog`."""

    prompts: list[Any] = field(default_factory=list)
    completions: list[Any] = field(default_factory=list)
    scores: dict[str, list[float | None]] = field(default_factory=dict)
    sources: list[int] | None = None  # each row's `prompt_source`, when the stage's prompts are a list


class RecordingReward:
    """Wraps a reward function and keeps the last batch it scored, for the completions log."""

    def __init__(self, function: Callable[..., list[float | None]], last: LastBatch):
        self.function = function
        self.last = last
        self.__name__ = function.__name__

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        scores = self.function(prompts, completions, **columns)
        self.last.prompts, self.last.completions = list(prompts), list(completions)
        self.last.sources = list(columns[SOURCE_COLUMN]) if SOURCE_COLUMN in columns else None
        self.last.scores[self.__name__] = list(scores)
        return scores


class CompletionsLog(TrainerCallback):
    def __init__(self, last: LastBatch, weights: dict[str, float], path: Path, tb_dir: Path | None, every: int):
        self.last, self.weights, self.path, self.every = last, weights, path, every
        self.writer = None
        if tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(tb_dir))

    def rows(self, step: int) -> list[dict[str, Any]]:
        out = []
        for i, (prompt, completion) in enumerate(zip(self.last.prompts, self.last.completions, strict=True)):
            row_scores = {name: values[i] for name, values in self.last.scores.items()}
            out.append(
                {
                    "step": step,
                    **({SOURCE_COLUMN: self.last.sources[i]} if self.last.sources is not None else {}),
                    "prompt": prompt_text(prompt),
                    "completion": completion_text(completion),
                    "rewards": row_scores,
                    "total": row_total(row_scores, self.weights),
                    **({"transcript": transcript(completion)} if is_episode(completion) else {}),
                }
            )
        return out

    def on_step_end(self, args, state, control, **kwargs):
        if not self.last.prompts or (state.global_step % self.every and state.global_step != 1):
            return
        rows = self.rows(state.global_step)
        with self.path.open("a") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in rows)
        if self.writer is not None:
            names = list(rows[0]["rewards"]) if rows else []
            header = "| prompt | completion | " + " | ".join(names) + " | total |\n|" + "---|" * (len(names) + 3)
            lines = [
                "| "
                + " | ".join(
                    [_cell(r["prompt"]), _cell(r["completion"])]
                    + [_num(r["rewards"][n]) for n in names]
                    + [_num(r["total"])]
                )
                + " |"
                for r in rows
            ]
            self.writer.add_text("completions", header + "\n" + "\n".join(lines), state.global_step)
            self.writer.flush()


def _cell(text: str, limit: int = 300) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
