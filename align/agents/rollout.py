"""Episodes with tools outside training: what `align eval --tools` answers with.

The same episode TRL's loop runs in GRPO: the prompt rendered with the tools' schemas, each turn generated from the
exact ids of the turns before (the model's tokens, then the template's rendering of the tool results, never
re-tokenised text), calls parsed by the same guarded parser and run by the same `Episode`, at most `max_turns`
assistant turns. The answer scored is the last turn's text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from align.agents.episode import Toolbox, tool_schemas
from align.generation.decode import sample_ids
from align.generation.hf import eos_ids


def tool_suffix_ids(tokenizer: Any, tool_messages: list[dict[str, Any]]) -> list[int]:
    """The ids the template puts between an assistant turn's end and the next assistant turn: the tool results and
    the new turn's header (TRL's `_get_tool_suffix_ids`, by the same diff of two renderings)."""
    call = [{"type": "function", "function": {"name": tool_messages[0]["name"], "arguments": {}}}]
    head = [{"role": "user", "content": "dummy"}, {"role": "assistant", "content": "", "tool_calls": call}]
    prefix = tokenizer.apply_chat_template(head, tokenize=True, return_dict=False)
    full = tokenizer.apply_chat_template(
        head + tool_messages, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    ends = [i for i, token in enumerate(prefix) if token == tokenizer.eos_token_id]
    if ends:  # templates that add a newline after the end-of-turn token: the model stops at the token itself
        prefix = prefix[: ends[-1] + 1]
    return list(full[len(prefix) :])


class EpisodeSampler:
    """A `Sampler` (align.generation.backend) whose answers are the final turns of tool-using episodes."""

    name = "hf+tools"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        toolbox: Toolbox,
        max_turns: int,
        batch_size: int = 32,
        rows: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """`rows`: the prompt rows of the prompts `sample` is given, in order; each episode starts with
        `reset(**row)` as in GRPO, so the `tests` tool runs that row's `visible_tests`. None: no row columns."""
        self.model, self.tokenizer, self.toolbox = model, tokenizer, toolbox
        self.max_turns, self.batch_size = max_turns, batch_size
        self.rows = rows
        self.schemas = tool_schemas(toolbox.tools, "tools")
        self.counts: Counter[str] = Counter()

    def set_adapter(self, adapter: Any) -> None:  # one sampler per policy: adapters are swapped by the caller
        raise NotImplementedError

    def sample(self, prompts, *, n, temperature, top_p, max_new_tokens, seed, progress=True):
        from trl.chat_template_utils import parse_response

        if self.rows is not None and len(self.rows) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(self.rows)} rows")
        episodes = [(i, self.toolbox.episode_class()) for i in range(len(prompts)) for _ in range(n)]
        for i, episode in episodes:
            episode.reset(**(self.rows[i] if self.rows is not None else {}))
        ids = [
            list(
                self.tokenizer.apply_chat_template(
                    prompts[i], tools=self.schemas, add_generation_prompt=True, tokenize=True, return_dict=False
                )
            )
            for i, _ in episodes
        ]
        answers: list[str | None] = [None] * len(episodes)
        active = list(range(len(episodes)))
        for turn in range(self.max_turns):
            outputs = sample_ids(
                self.model,
                [ids[k] for k in active],
                n=1,
                max_new_tokens=max_new_tokens,
                eos_token_ids=eos_ids(self.model, self.tokenizer),
                pad_token_id=self.tokenizer.pad_token_id,
                temperature=temperature,
                top_p=top_p,
                batch_size=self.batch_size,
                seed=seed + turn,
                progress=False,
            )
            still = []
            for k, (new,) in zip(active, outputs, strict=True):
                self.counts["turns"] += 1
                message = parse_response(self.tokenizer, list(new), prefix=ids[k], tools=self.schemas)
                calls = message.get("tool_calls") or []
                if not calls or turn == self.max_turns - 1:
                    answers[k] = message.get("content") or ""
                    self.counts["cut_by_turn_limit"] += bool(calls)
                    continue
                episode = episodes[k][1]
                results = [
                    {"role": "tool", "name": c["function"]["name"], "content": self._call(episode, c["function"])}
                    for c in calls
                ]
                ids[k] = ids[k] + list(new) + tool_suffix_ids(self.tokenizer, results)
                still.append(k)
            active = still
            if not active:
                break
        self.counts["episodes"] += len(episodes)
        stats = self.toolbox.stats.take()
        self.counts.update(calls=stats.calls, errors=stats.errors, malformed=stats.malformed)
        return [[answers[k] or "" for k in range(i * n, (i + 1) * n)] for i in range(len(prompts))]

    @staticmethod
    def _call(episode: Any, function: dict[str, Any]) -> str:
        return getattr(episode, function["name"])(**(function.get("arguments") or {}))
