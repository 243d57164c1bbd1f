"""Pair building: the policy samples k answers per prompt, verifiers judge them, rejection sampling picks pairs.

Math answers are matched against the `answer` column; code runs against the `tests` column in the sandbox.
Writes `pairs.jsonl` (conversational prompt/chosen/rejected, the format DPOTrainer reads) and `stats.json`;
`user_pairs` rows (TRL preference format) are validated first and appended after the built pairs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from align.artifacts.contract import PAIR_STATS, PAIRS_FILE, write_json_atomic
from align.config.schema import PairsStage
from align.data.load import load_prompts, load_rows
from align.data.preferences import preference_rows
from align.generation.recipe_sampler import recipe_sampler
from align.runtime import distributed
from align.runtime.context import StageContext, resolve_precision
from align.runtime.crashpoints import crash_point
from align.runtime.errors import AlignError
from align.stages.init_adapter import init_adapter
from align.stages.pairs.balance import balanced_prompts, group_stats, kept_pairs, pairs_per_group
from align.stages.pairs.batches import load_done, save_batch, write_lines_atomic
from align.stages.pairs.selection import Pair, Sample, SelectionRules, select_pairs, skip_counts
from align.stages.pairs.solved import resample_solved
from align.stages.pairs.verify import FAILED, first_failure, flag_counts, verify
from align.stages.results import PairsResult
from reward import get_verifier

log = logging.getLogger(__name__)


def pair_row(prompt: Any, pair: Pair, index: int) -> dict[str, Any]:
    """One line of pairs.jsonl: conversational prompt/chosen/rejected (what DPOTrainer reads) plus the verdicts."""
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": pair.chosen.text}],
        "rejected": [{"role": "assistant", "content": pair.rejected.text}],
        "chosen_score": pair.chosen.verdict.score,
        "rejected_score": pair.rejected.verdict.score,
        "chosen_reason": pair.chosen.verdict.reason,
        "rejected_reason": pair.rejected.verdict.reason,
        "prompt_index": index,
    }


def pair_stats(prompts: Sequence[dict[str, Any]], kept: Sequence[Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """stats.json's verdict and pair counts over some prompts (their stored results and the pairs written from
    each); undecided samples (None) are counted and left out of the rates. Hot samples of solved prompts are not
    in the rates either: they were drawn at another temperature."""
    scores = [s for p in prompts for s in p["scores"]]
    reasons = [p["reason"] for p in prompts]
    decided = [s for s in scores if s is not None]
    return {
        "prompts": len(reasons),
        "samples": len(scores),
        "undecided_samples": len(scores) - len(decided),
        "pass_rate": sum(s >= 1.0 for s in decided) / len(decided) if decided else 0.0,
        "mean_score": sum(decided) / len(decided) if decided else 0.0,
        "pairs": sum(len(pairs) for pairs in kept),
        "prompts_with_pairs": sum(r is None for r in reasons),
        "skipped": skip_counts(reasons),
        "solved_resampled": sum("hot_scores" in p for p in prompts),
        "pairs_from_solved": sum(len(pairs) for p, pairs in zip(prompts, kept, strict=True) if "hot_scores" in p),
    }


def build_batch(stage: PairsStage, sampler, rows: list[dict[str, Any]], first: int, seed: int) -> dict[str, Any]:
    """Sample, verify and select one batch of prompts; everything the stage's stats need, as plain JSON."""

    def draw(prompts: list[dict[str, Any]], n: int, temperature: float) -> list[list[str]]:
        # Every draw of the batch is seeded by its index, so a resumed stage redraws the same samples.
        return sampler.sample(
            [r["prompt"] for r in prompts],
            n=n,
            temperature=temperature,
            top_p=stage.top_p,
            max_new_tokens=stage.max_new_tokens,
            seed=seed,
        )

    started = time.monotonic()
    completions = draw(rows, stage.k, stage.temperature)
    sampling_s = time.monotonic() - started
    verdicts = verify(stage.verifier, rows, completions)
    rules = SelectionRules(
        max_pairs=stage.max_pairs_per_prompt, prefer_shortest=stage.prefer_shortest, drop_identical=stage.drop_identical
    )
    samples = [
        [Sample(t, v) for t, v in zip(texts, judged, strict=True)]
        for texts, judged in zip(completions, verdicts, strict=True)
    ]
    selected = [select_pairs(group, rules) for group in samples]
    reasons = [reason for _, reason in selected]
    solved = stage.solved_prompts
    hot = resample_solved(solved, stage.verifier, draw, rows, samples, reasons, rules) if solved else {}
    prompts = []
    for offset, (row, judged, (pairs, reason)) in enumerate(zip(rows, verdicts, selected, strict=True)):
        prompt: dict[str, Any] = {"scores": [v.score for v in judged], "reason": reason}
        if offset in hot:
            # `hot_scores` marks a solved prompt sampled again; its pairs (if any) count as pairs_from_solved.
            prompt["hot_scores"], pairs = hot[offset]
            prompt["reason"] = None if pairs else reason
        prompt["pairs"] = [pair_row(row["prompt"], pair, first + offset) for pair in pairs]
        prompts.append(prompt)
    return {
        "first": first,
        "sampling_s": sampling_s,
        "prompts": prompts,
        "flags": flag_counts(verdicts),
        "verifier_error": first_failure(verdicts),
    }


def run(ctx: StageContext) -> PairsResult:
    stage = ctx.typed_stage(PairsStage)
    group_column = (stage.balance.by,) if stage.balance else ()
    prompts = load_prompts(stage.prompts, required=(*get_verifier(stage.verifier).columns, *group_column))
    rows = balanced_prompts(prompts.to_list(), stage.balance)
    # Checked before sampling: a bad user row should fail in seconds, not after minutes of generation.
    user = preference_rows(load_rows(stage.user_pairs), stage.user_pairs.path) if stage.user_pairs else []
    starts = list(range(0, len(rows), stage.batch_prompts))
    batches, resumed, backend = _sample_batches(ctx, stage, rows, starts)

    per_prompt = [p for batch in batches for p in batch["prompts"]]
    flags = _total_flags(batch.get("flags", {}) for batch in batches)
    failures = flags.pop(FAILED, 0)
    _stop_if_the_verifier_never_worked(ctx, stage, batches, per_prompt, failures)
    kept = kept_pairs(per_prompt, rows, stage.balance)
    written = _write_pairs(ctx, kept, user)
    stats = pair_stats(per_prompt, kept)
    sampling_s = sum(batch["sampling_s"] for batch in batches)
    stats |= {
        "user_pairs": len(user),
        "backend": backend,
        "batches": len(starts),
        "batches_resumed": resumed,
        "verifier_failures": failures,
        "verifier_flags": flags,
        "sampling_s": round(sampling_s, 2),
        "samples_per_s": round(stats["samples"] / sampling_s, 2) if sampling_s else None,
    }
    if stage.balance:
        stats |= group_stats(per_prompt, rows, kept, stage.balance, pair_stats)
    if distributed.is_main():
        write_json_atomic(ctx.stage_dir / PAIR_STATS, stats)
    log.info(
        "pairs: %d pairs from %d prompts (pass rate %.2f, skipped %s, %.1f samples/s with %s)",
        written,
        len(rows),
        stats["pass_rate"],
        stats["skipped"],
        stats["samples_per_s"] or 0,
        stats["backend"],
    )
    if written + len(user) == 0:
        raise AlignError(
            f"stages.{stage.name}: no pairs: every prompt's samples all passed or all failed "
            f"({stats['skipped']}); raise k or temperature, or use prompts of mixed difficulty"
        )
    return PairsResult(
        prompts=stats["prompts"],
        samples=stats["samples"],
        pass_rate=stats["pass_rate"],
        pairs=stats["pairs"],
        pairs_from_solved=stats["pairs_from_solved"],
        user_pairs=stats["user_pairs"],
        undecided_samples=stats["undecided_samples"],
        samples_per_s=stats["samples_per_s"],
        skipped=stats["skipped"],
        batches_resumed=resumed,
        verifier_failures=failures,
        verifier_flags=flags,
        per_group=pairs_per_group(stats),
    )


def _sample_batches(
    ctx: StageContext, stage: PairsStage, rows: list[dict[str, Any]], starts: list[int]
) -> tuple[list[dict[str, Any]], int, str]:
    """Every batch in order — those an interrupted run stored, then the rest, sampled and verified now — with how
    many were resumed and the backend that sampled ("resumed" when none had to be)."""
    done = load_done(ctx.stage_dir) if ctx.resuming else {}
    done = {i: b for i, b in done.items() if i < len(starts) and b.get("first") == starts[i]}
    resumed = len(done)
    if done:
        log.info("pairs: %d of %d batches done by the interrupted run; sampling the rest", len(done), len(starts))
    sampler = None
    # Under several processes each rank builds a contiguous share of the batches left; a batch is seeded by its
    # index, so the pairs equal a one-process run's. Every rank keeps its own finished batches on disk (distinct
    # files), so a kill of any rank costs only its batch in flight; the main process alone writes the results.
    mine = distributed.shard([i for i in range(len(starts)) if i not in done])
    built = {}
    for index in mine:
        first = starts[index]
        if sampler is None:
            sampler = recipe_sampler(
                ctx.recipe,
                stage.backend,
                ctx.base_model,
                resolve_precision("auto"),
                init_adapter(ctx, stage.init),
                [r["prompt"] for r in rows],
                stage.max_new_tokens,
                stage.sample_batch,
            )
        # Seeded by batch index: the same batches give the same samples whether or not a kill came between.
        batch = build_batch(stage, sampler, rows[first : first + stage.batch_prompts], first, stage.seed + index)
        save_batch(ctx.stage_dir, index, batch)
        built[index] = batch
        crash_point(f"{stage.name}:batch")
    done.update(dict(distributed.gather(list(built.items()))))
    return [done[i] for i in range(len(starts))], resumed, sampler.name if sampler else "resumed"


def _stop_if_the_verifier_never_worked(
    ctx: StageContext, stage: PairsStage, batches: list[dict[str, Any]], per_prompt: list, failures: int
) -> None:
    """A verifier that failed on some samples leaves them undecided; one that failed on every sample is broken."""
    samples = sum(len(p["scores"]) for p in per_prompt)
    if samples and failures == samples:
        error = next(batch["verifier_error"] for batch in batches if batch.get("verifier_error"))
        raise AlignError(
            f"stages.{stage.name}: verifier '{stage.verifier}' failed on all {samples} samples (first: {error}); "
            f"fix it and delete {ctx.stage_dir} to judge the samples again"
        )


def _write_pairs(ctx: StageContext, kept: list[list[dict[str, Any]]], user: list[dict[str, Any]]) -> int:
    """pairs.jsonl: the built pairs, then the user's; returns how many were built."""
    # Sorted keys: rows built now and rows reloaded from a stored batch must serialise to the same bytes.
    lines = [json.dumps(pair, sort_keys=True) + "\n" for pairs in kept for pair in pairs]
    written = len(lines)
    lines += [json.dumps({**pair, "source": "user"}, sort_keys=True) + "\n" for pair in user]
    if distributed.is_main():
        write_lines_atomic(ctx.stage_dir / PAIRS_FILE, lines)
    return written


def _total_flags(per_batch: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in per_batch:
        for flag, n in counts.items():
            total[flag] = total.get(flag, 0) + n
    return dict(sorted(total.items()))
