"""Evaluate every policy of a target on the chosen suites; write the results as JSON and print a table.

Each (policy, suite) is generated once greedily, plus `samples` draws at temperature 0.8 when pass@k is
asked for. For a run folder the results go to `<run>/eval.json`, and a policy whose artifact and settings
are unchanged since the last evaluation keeps its stored results: evaluating after every stage costs only
the new stage.

A kill during evaluation costs at most the (policy, suite) in flight: each finished one is stored at once in
`<out>.partial` (renamed into place whole), which the next evaluation reuses like eval.json and removes once
eval.json, with its statistics, is written. eval.json itself is only ever written complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from align.agents.resolve import require_visible_tests, resolve_tools
from align.agents.rollout import EpisodeSampler
from align.artifacts.contract import (
    read_json_artifact,
    read_manifest,
    remove_killed_writes,
    stage_folders,
    write_json_atomic,
)
from align.evaluation import suites as suite_registry
from align.evaluation.group_table import group_tables
from align.evaluation.groups import add_group_statistics
from align.evaluation.policies import PolicySamplers
from align.evaluation.settings import GROUP_BY, EvalSettings
from align.evaluation.stats import add_statistics
from align.evaluation.suites import PreparedSuite, SuiteUnavailableError
from align.evaluation.table import print_results
from align.evaluation.targets import Policy, Target, resolve_target
from align.evaluation.tool_episodes import episode_sampler
from align.generation.backend import BackendName
from align.runtime import distributed
from align.runtime.crashpoints import crash_point
from align.runtime.errors import AlignError

log = logging.getLogger(__name__)
# What a stored suite result must hold to be reused (per suite; the rest need only per-problem values).
STORED_KEYS = {"chat": ("per_problem", "answers")}


def evaluate(
    target: str | Path,
    suites: Sequence[str] = ("math",),
    samples: int = 1,
    limit: int | None = None,
    *,
    out: Path | None = None,
    reward: str | Path | None = None,
    judge: str | None = None,
    math_data: str | None = None,
    chat_data: str | None = None,
    code_data: str | None = None,
    ifeval_data: str | None = None,
    max_new_tokens: int | None = None,
    backend: BackendName = "auto",
    seed: int = 0,
    show: bool = True,
    group_by: Sequence[str] = GROUP_BY,
    tools: Sequence[str] = (),
    max_turns: int = 4,
) -> dict[str, Any]:
    """Results as {"target", "target_kind", "settings", "created_at", "models": {name: {..., "suites"}}}."""
    if tools and backend == "vllm":
        raise AlignError("--tools: episodes are generated with HF generate, not vLLM; use --backend hf (or auto)")
    if tools:  # `auto` means vLLM when installed, but tool episodes (as TRL's tool loop) run on HF generate
        backend = "hf"
    resolved = resolve_target(target)
    reward_dir, reward_version = reward_model(reward, resolved)
    try:
        settings = EvalSettings(
            suites=tuple(suites),
            samples=samples,
            limit=limit,
            max_new_tokens=max_new_tokens,
            seed=seed,
            backend=backend,
            math_data=math_data,
            chat_data=chat_data,
            code_data=code_data,
            ifeval_data=ifeval_data,
            reward=reward_dir,
            reward_version=reward_version,
            judge=judge,
            group_by=tuple(group_by),
            tools=tuple(tools),
            max_turns=max_turns,
        )
    except ValueError as err:
        raise AlignError(str(err)) from None
    resolve_tools(list(settings.tools), "--tools")  # a tool that cannot be imported fails before any model loads
    out_path = out or resolved.default_out
    partial = _partial_path(out_path)
    stored = _stored_and_partial(out_path, partial, settings)
    prepared = _PreparedSuites(settings)
    if "tests" in settings.tools:  # rows without visible tests fail before any model loads, not after a suite
        for name in settings.suites:
            with contextlib.suppress(SuiteUnavailableError):  # a suite without inputs is skipped later, as ever
                prepared.get(name)
    samplers = PolicySamplers(backend)
    models = {}
    for policy in resolved.policies:
        entry = _policy_entry(policy)
        for name in settings.suites:
            old = _reusable_result(policy, name, stored.get(policy.name, {}), prepared.digest(name))
            if old is not None:
                log.info("%s / %s: unchanged since the last evaluation, results reused", policy.name, name)
                entry["suites"][name] = old
            else:
                entry["suites"][name] = run_suite(policy, name, prepared, samplers, settings)
                models[policy.name] = entry
                _store_progress(partial, settings, models)
                crash_point("eval:suite")
        models[policy.name] = entry
    results = {
        "target": resolved.path,
        "target_kind": resolved.kind,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings.to_json(),
        "models": models,
    }
    if distributed.is_main():  # the main process alone adds the statistics and writes the results
        _finish(results, settings, out_path, partial, show)
    return results


def _stored_and_partial(out_path: Path | None, partial: Path | None, settings: EvalSettings) -> dict[str, Any]:
    """The stored results per policy: eval.json's, overlaid with what a killed evaluation left in `.partial`
    (newer than eval.json, so it wins; an older suite is kept only while the policy's fingerprint is the same)."""
    stored = _stored_models(out_path, settings)
    for name, done in _stored_models(partial, settings).items():
        older = stored.get(name, {})
        kept = older.get("suites", {}) if older.get("fingerprint") == done.get("fingerprint") else {}
        stored[name] = {**done, "suites": {**kept, **done.get("suites", {})}}
    return stored


def _policy_entry(policy: Policy) -> dict[str, Any]:
    return {
        "kind": policy.kind,
        "base_model": policy.base_model,
        "adapter": str(policy.adapter) if policy.adapter else None,
        "init": policy.init,
        "fingerprint": policy.fingerprint,
        "suites": {},
    }


def _reusable_result(policy: Policy, suite: str, previous: dict[str, Any], digest: str | None) -> dict[str, Any] | None:
    """The stored result of `suite` when neither the policy nor the suite's data changed since, else None."""
    if policy.fingerprint is None or previous.get("fingerprint") != policy.fingerprint:
        return None
    old = previous.get("suites", {}).get(suite)
    if not old or "skipped" in old:  # a suite skipped last time is tried again
        return None
    # The same file name with other rows in it (a rebuilt held-out set) is another question; results stored before
    # digests were kept cannot show they answer this one. Nor can results stored before per-problem values (or chat
    # answers) were kept give intervals or the report's before/after samples: those are redone too.
    if digest is None or old.get("data_digest") != digest:
        return None
    return old if all(key in old for key in STORED_KEYS.get(suite, ("per_problem",))) else None


def _finish(
    results: dict[str, Any], settings: EvalSettings, out_path: Path | None, partial: Path | None, show: bool
) -> None:
    """Statistics added, eval.json written whole, and only then the partial file removed."""
    add_statistics(results, settings.seed)
    add_group_statistics(results, settings.seed)
    if out_path is not None:
        remove_killed_writes(out_path)
        write_json_atomic(out_path, results)
    if partial is not None:
        partial.unlink(missing_ok=True)  # only after eval.json holds everything it held
    if show:
        print_results(results, str(out_path) if out_path else None, group_tables(results))


def run_suite(
    policy: Policy, name: str, prepared: _PreparedSuites, samplers: PolicySamplers, settings: EvalSettings
) -> dict[str, Any]:
    try:
        suite = prepared.get(name)
    except SuiteUnavailableError as err:
        return {"skipped": str(err)}
    log.info("evaluating %s on %s: %d prompts", policy.name, name, len(suite.prompts))
    started = time.monotonic()
    sampler = samplers.get(policy)
    if settings.tools:
        sampler = episode_sampler(sampler, settings, distributed.shard(episode_rows(suite)))
    length, seed = suite.max_new_tokens, settings.seed
    # Under several processes each rank answers its slice of the prompts; the gathered answers are in prompt
    # order, so scoring sees what a one-process run would.
    prompts = distributed.shard(suite.prompts)
    answers = sampler.sample(prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=length, seed=seed)
    greedy = distributed.gather([texts[0] for texts in answers])
    sampled = None
    if settings.samples > 1 and suite.sampled:
        sampled = sampler.sample(
            prompts,
            n=settings.samples,
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_new_tokens=length,
            seed=seed,
        )
        sampled = distributed.gather(sampled)
    result = suite.score(greedy, sampled)
    if isinstance(sampler, EpisodeSampler):
        result["tools"] = dict(sorted(sampler.counts.items()))  # greedy and sampled episodes together
        # The same policy on the same prompts answering at once, for the paired change tools make (stats.py).
        plain = samplers.get(policy).sample(prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=length, seed=seed)
        without = suite.score(distributed.gather([texts[0] for texts in plain]), None)
        result["without_tools"] = {"metrics": without["metrics"], "per_problem": without["per_problem"]}
    seconds = round(time.monotonic() - started, 1)
    return {**result, "source": suite.source, "data_digest": prepared.digest(name), "seconds": seconds}


def episode_rows(suite: PreparedSuite) -> list[dict[str, Any]]:
    """The row each of the suite's prompts starts its episode with (empty where the suite hands over none)."""
    return suite.rows if suite.rows is not None else [{} for _ in suite.prompts]


class _PreparedSuites:
    """Suites are prepared on first use (data read, reward model loaded) and shared by every policy."""

    def __init__(self, settings: EvalSettings) -> None:
        self.settings = settings
        self.done: dict[str, PreparedSuite | SuiteUnavailableError] = {}
        self.digests: dict[str, str] = {}

    def get(self, name: str) -> PreparedSuite:
        if name not in self.done:
            try:
                suite = suite_registry.prepare(name, self.settings)
            except SuiteUnavailableError as skipped:
                log.warning("%s suite skipped: %s", name, skipped)
                self.done[name] = skipped
            else:
                require_visible_tests(self.settings.tools, episode_rows(suite), f"--suite {name}: {suite.source}")
                self.done[name] = suite
        found = self.done[name]
        if isinstance(found, SuiteUnavailableError):
            raise found
        return found

    def digest(self, name: str) -> str | None:
        """What the suite's answers are judged against: its prompts, rows and, where they come from a file, the
        file's bytes (a math answer can change under an unchanged prompt). None for a suite without inputs."""
        if name not in self.digests:
            try:
                suite = self.get(name)
            except SuiteUnavailableError:
                return None
            content = hashlib.sha256(json.dumps([suite.prompts, suite.rows], sort_keys=True, default=str).encode())
            source = Path(suite.source)
            if source.is_file():
                content.update(source.read_bytes())
            self.digests[name] = content.hexdigest()
        return self.digests[name]


def reward_model(reward: str | Path | None, target: Target) -> tuple[str | None, str | None]:
    """The reward model folder for the chat suite and its version: the one given, else a run's reward stage."""
    if reward is not None:
        folder = Path(reward).expanduser().resolve()
        from reward import NotARewardModelError, RewardConfig

        try:
            RewardConfig.read(folder)
        except NotARewardModelError as err:
            raise AlignError(f"--reward: {err}") from None
        manifest = read_manifest(folder)
        return str(folder), manifest.fingerprint if manifest else None
    if target.kind != "run":
        return None, None
    stage = next((s for s in stage_folders(Path(target.path)) if s.kind == "reward" and s.complete), None)
    if stage is None or stage.manifest is None:
        return None, None
    return str(stage.path), stage.manifest.fingerprint


def _partial_path(out_path: Path | None) -> Path | None:
    return out_path.with_name(out_path.name + ".partial") if out_path is not None else None


def _store_progress(partial: Path | None, settings: EvalSettings, models: dict[str, Any]) -> None:
    """The (policy, suite) results finished so far; per-suite results are final, the statistics come later."""
    if partial is not None and distributed.is_main():
        write_json_atomic(partial, {"settings": settings.to_json(), "models": models})


def _stored_models(path: Path | None, settings: EvalSettings) -> dict[str, Any]:
    stored = read_json_artifact(path) if path is not None else None
    if not isinstance(stored, dict):
        return {}
    return stored.get("models", {}) if settings.same_question(stored.get("settings")) else {}
