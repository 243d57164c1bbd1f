"""`align eval --tools`: the policy's HF sampler turned into one that answers with tool-using episodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from align.agents.calls import guard_tool_calls
from align.agents.episode import Toolbox
from align.agents.resolve import resolve_tools
from align.agents.rollout import EpisodeSampler
from align.evaluation.settings import EvalSettings
from align.generation.backend import HFSampler, Sampler
from align.models.tool_template import with_tool_template
from align.runtime.errors import AlignError

# Tool results in evaluation are cut as in the recipe's default (GRPOStage.tool_output_tokens).
OUTPUT_TOKENS = 256
TIMEOUT_S = 30.0


def episode_sampler(
    sampler: Sampler, settings: EvalSettings, rows: Sequence[Mapping[str, Any]] | None = None
) -> EpisodeSampler:
    """Episodes on the prompts whose rows are `rows` (in order): what each episode's tools read."""
    if not isinstance(sampler, HFSampler):
        raise AlignError("--tools: episodes are generated with HF generate; use --backend hf")
    tools = resolve_tools(list(settings.tools), "--tools")
    with_tool_template(sampler.tokenizer)
    toolbox = Toolbox(tools, sampler.tokenizer, OUTPUT_TOKENS, TIMEOUT_S, "--tools")
    guard_tool_calls(sampler.tokenizer, toolbox.names)
    return EpisodeSampler(sampler.model, sampler.tokenizer, toolbox, settings.max_turns, sampler.batch_size, rows)
