"""GRPO with tools: TRL's own tool loop over align's episodes (align.agents), and the counts it logs per step.

TRL generates every turn itself when tools are on: with a `rollout_func` it would take only the first turn from the
rollout and generate the later ones with the training model anyway (dropping the rollout's token mask), so an episode
would mix two samplers. A tool stage therefore leaves generation to TRL (HF generate through the PEFT model), and the
manifest's notes say so.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from transformers import TrainerCallback

from align.agents.calls import guard_tool_calls
from align.agents.episode import Toolbox
from align.agents.resolve import require_visible_tests, resolve_tools
from align.config.schema import GRPOStage
from align.models.tool_template import with_tool_template
from align.runtime.context import StageContext
from align.stages.grpo.completions import LastBatch
from align.stages.trl_private import log_metric

ROLLOUTS_NOTE = (
    "TRL's generate: its tool loop generates every turn after the first itself, so align's rollouts "
    "(merged decoder, vLLM) are off for a stage with tools"
)


def episode_counts(completions: list[Any], max_turns: int) -> dict[str, int]:
    """Episodes, assistant turns, tool results read, and episodes that still wanted a tool at the turn limit."""
    counts = Counter(episodes=len(completions))
    for messages in completions:
        if isinstance(messages, str):
            counts["turns"] += 1
            continue
        turns = sum(m.get("role") == "assistant" for m in messages)
        counts["turns"] += turns
        counts["tool_results"] += sum(m.get("role") == "tool" for m in messages)
        last = messages[-1] if messages else {}
        counts["cut_by_turn_limit"] += bool(last.get("role") == "assistant" and last.get("tool_calls")) and (
            turns >= max_turns
        )
    return dict(counts)


class ToolMetrics(TrainerCallback):
    """Per step, into TRL's log: `tools/turns` (per episode), `tools/calls`, `tools/errors`, `tools/malformed`,
    `tools/seconds` and `tools/cut_by_turn_limit` (this step's, this process's); totals for the manifest."""

    def __init__(self, toolbox: Toolbox, last: LastBatch, max_turns: int) -> None:
        self.toolbox, self.last, self.max_turns = toolbox, last, max_turns
        self.totals: Counter[str] = Counter()
        self.seconds = 0.0
        self.trainer: Any = None

    def attach(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        counts = episode_counts(self.last.completions, self.max_turns)
        stats = self.toolbox.stats.take()
        self.totals.update(counts)
        self.totals.update(calls=stats.calls, errors=stats.errors, malformed=stats.malformed)
        self.seconds += stats.seconds
        if self.trainer is not None and counts.get("episodes"):
            step = {
                "turns": counts.get("turns", 0) / counts["episodes"],
                "calls": stats.calls,
                "errors": stats.errors,
                "malformed": stats.malformed,
                "seconds": stats.seconds,
                "cut_by_turn_limit": counts.get("cut_by_turn_limit", 0),
            }
            for key, value in step.items():  # averaged over the logging window, beside TRL's own tools/ metrics
                log_metric(self.trainer, f"tools/{key}", float(value))

    def metrics(self) -> dict[str, Any]:
        episodes = self.totals.get("episodes", 0)
        return {
            "tools": {
                **{k: self.totals.get(k, 0) for k in ("episodes", "calls", "errors", "malformed", "cut_by_turn_limit")},
                "turns_per_episode": self.totals.get("turns", 0) / episodes if episodes else None,
                "tool_seconds": round(self.seconds, 3),
            }
        }


class ToolTraining:
    """What a GRPO stage with tools adds to TRL's trainer: the episode class, the turn limit, the metrics."""

    def __init__(self, toolbox: Toolbox, metrics: ToolMetrics, max_turns: int) -> None:
        self.toolbox, self.callback, self.max_turns = toolbox, metrics, max_turns

    def trainer_kwargs(self) -> dict[str, Any]:
        return {"environment_factory": self.toolbox.episode_class}


def tool_callbacks(tooling: ToolTraining | None) -> list[TrainerCallback]:
    return [tooling.callback] if tooling else []


def tool_training(
    stage: GRPOStage, ctx: StageContext, tokenizer: Any, rows: list[dict[str, Any]], last: LastBatch
) -> ToolTraining | None:
    """None for a stage without tools. Gives `tokenizer` a template that renders tools and a parser that turns
    malformed calls into error messages; checks the prompt rows carry what the tools read."""
    if not stage.tools:
        return None
    where = f"stages.{stage.name}.tools"
    tools = resolve_tools(stage.tools, where)
    # The schema gives a stage with tools one prompts source.
    require_visible_tests(stage.tools, rows, stage.prompt_sources[0].path)
    template = with_tool_template(tokenizer)
    toolbox = Toolbox(tools, tokenizer, stage.tool_output_tokens, stage.tool_timeout_s, where)
    guard_tool_calls(tokenizer, toolbox.names)
    ctx.notes["tools"] = {
        "tools": toolbox.names,
        "chat_template": template,
        "max_turns": stage.max_turns,
        "rollouts": ROLLOUTS_NOTE,
    }
    return ToolTraining(toolbox, ToolMetrics(toolbox, last, stage.max_turns), stage.max_turns)
