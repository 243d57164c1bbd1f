"""Build the tool-use demonstrations and prompts (data/agents/*.jsonl).

    python data/agents/build.py

Procedural, like data/math and data/code, and every tool result in a demonstration is what the tool really returns:
the build runs each call through `reward.python_tool` / `reward.tests_tool`, so SFT teaches the exact text the
model will read in GRPO.

- math: products and sums of two-digit numbers (`a × b`, `a × b + c`), which the default model almost never gets
  right in its head; the demonstration writes Python, reads its output and answers in `\\boxed{}`. Keys (the
  expression) are split between sft, prompts and eval, never shared.
- code: data/code's function families; the demonstration writes a first version with the parameter off by one,
  runs the `tests` tool on the prompt's *visible* tests (the docstring example and one more case), reads which
  failed, fixes it and answers; a third of them get it right first and check once. Rows carry `visible_tests`
  (what the tool runs) apart from `tests` (the held-out checks the reward runs). Keys split sft / prompts / eval
  (`code_eval`: the held-out set of `align eval --suite code --tools tests --code-data data/agents/code_eval.jsonl`).
- sft: math_sft and code_sft in one file, interleaved, so one SFT stage teaches both tools.
- math_word: the same products and sums told as word problems ("Each of 94 buses carries 17 people, and 20 more
  people walk..."), only as prompts (GRPO's) and a held-out eval set, never demonstrated: the SFT policy has learnt
  to call python on `a × b + c` as written and must learn to set the expression up from words, which it gets right
  on some prompts and not others, so GRPO's groups differ in reward. Numbers are disjoint from every math key.
Deterministic: one seeded RNG, a re-run writes the same bytes.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from align.data.load import CODE_INSTRUCTION
from reward import python_tool, tests_tool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "code"))
from keysplit import check_keys_disjoint, split_keys, write_splits
from keysplit import render as render  # re-exported: the data tests rebuild the files through the script
from procedural import FAMILIES, Family, Problem, make

SEED = 20261205
MATH_INSTRUCTION = "Use the python tool to compute it, then put the final answer in \\boxed{}."
CODE_HINT = "Check your function with the tests tool before you answer."
MATH_SIZES = {"eval": 100, "prompts": 120}  # the rest (of MATH_KEYS) are demonstrations
MATH_KEYS = 400
WORD_SIZES = {"eval": 100, "prompts": 120}
# Word problems, each wording used for both splits (the numbers are what is held out).
PRODUCTS = (
    "A box holds {a} pens. How many pens are in {b} boxes?",
    "A farmer plants {a} rows of {b} trees each. How many trees does he plant?",
    "Each ticket costs {a} dollars. How many dollars do {b} tickets cost?",
    "A train has {a} cars with {b} seats in each car. How many seats does the train have?",
)
PRODUCTS_PLUS = (
    "A shop has {a} boxes with {b} apples in each box and {c} loose apples. How many apples are there in all?",
    "Each of {a} buses carries {b} people, and {c} more people walk. How many people are there?",
    "Mia reads {b} pages a day for {a} days, then {c} more pages. How many pages does she read?",
    "A school orders {a} packs of {b} pencils and {c} single pencils. How many pencils does it order?",
)
CODE_SHARES = {"prompts": 0.3, "eval": 0.23}  # of each family's keys (about 130 and 100 rows); sft gets the rest
RIGHT_FIRST = 3  # every third code demonstration gets it right at once


class Key(str):
    @property
    def key(self) -> str:
        return str(self)


def call(name: str, code: str) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [{"name": name, "arguments": {"code": code}}]}


def result(name: str, text: str) -> dict:
    return {"role": "tool", "name": name, "content": text}


def math_keys(
    rng: random.Random, count: int, plus_share: float, taken: frozenset[str] = frozenset()
) -> list[tuple[int, int, int | None]]:
    """`count` distinct (a, b, c or None) keys, `plus_share` of them drawn with a `+ c`, none whose expression is in
    `taken`."""
    keys: set[tuple[int, int, int | None]] = set()
    while len(keys) < count:
        a, b = rng.randint(11, 99), rng.randint(11, 99)
        key = (a, b, rng.randint(11, 99) if rng.random() < plus_share else None)
        if expression(*key)[1] not in taken:
            keys.add(key)
    return sorted(keys, key=lambda k: (k[0], k[1], k[2] or 0))


def expression(a: int, b: int, c: int | None) -> tuple[str, str]:
    """(as asked, as Python)."""
    if c is None:
        return f"{a} × {b}", f"{a} * {b}"
    return f"{a} × {b} + {c}", f"{a} * {b} + {c}"


def word_rows(rng: random.Random, taken: frozenset[str]) -> dict[str, list[dict]]:
    """Word problems on numbers whose expression is in no other math split (`taken`)."""
    splits = split_keys(math_keys(rng, sum(WORD_SIZES.values()), 0.5, taken), rng, WORD_SIZES, rest="unused")
    out: dict[str, list[dict]] = {}
    for name in WORD_SIZES:
        rows = []
        for a, b, c in splits[name]:
            code = expression(a, b, c)[1]
            wording = rng.choice(PRODUCTS if c is None else PRODUCTS_PLUS)
            prompt = f"{wording.format(a=a, b=b, c=c)} {MATH_INSTRUCTION}"
            rows.append(
                {"prompt": prompt, "answer": str(eval(code)), "key": code, "kind": "a*b" if c is None else "a*b+c"}
            )
        out[f"math_word_{name}"] = rows
    return out


def math_rows(rng: random.Random) -> dict[str, list[dict]]:
    splits = split_keys(math_keys(rng, MATH_KEYS, 0.4), rng, MATH_SIZES, rest="sft")
    keyed = {name: [Key(str(k)) for k in keys] for name, keys in splits.items()}
    check_keys_disjoint("math", keyed)
    out: dict[str, list[dict]] = {}
    for name, keys in splits.items():
        rows = []
        for a, b, c in keys:
            asked, code = expression(a, b, c)
            answer = eval(code)  # our own arithmetic, to write the expected answer
            prompt = f"What is {asked}? {MATH_INSTRUCTION}"
            if name != "sft":
                rows.append({"prompt": prompt, "answer": str(answer), "key": code})
                continue
            program = f"print({code})"
            output = python_tool(program)
            if output.error or output.text != str(answer):
                raise AssertionError(f"{code}: the python tool answered {output.text!r}")
            messages = [
                {"role": "user", "content": prompt},
                call("python", program),
                result("python", output.text),
                {"role": "assistant", "content": f"{asked} = {answer}. The answer is \\boxed{{{answer}}}."},
            ]
            rows.append({"messages": messages, "key": code})
        out[f"math_{name}"] = rows
    return out


def visible_tests(family: Family, problem: Problem) -> str:
    """The docstring's example and the first other input: what the model may run; `tests` has every input."""
    lines = [line for line in problem.tests.splitlines() if line.strip().startswith("assert")]
    example = next(line for line in lines if line.strip() in _doc_asserts(problem))
    other = next(line for line in lines if line != example)
    return f"def check(candidate):\n{example}\n{other}\n"


def _doc_asserts(problem: Problem) -> set[str]:
    doc = problem.code_prompt.split(">>> ", 1)[1].splitlines()
    call_text, expected = doc[0].strip(), doc[1].strip()
    return {f"assert {call_text.replace(problem.name, 'candidate', 1)} == {expected}"}


def signature(problem: Problem) -> str:
    """The `def` line alone: a tool call's code skips the docstring (less to escape in the call's JSON)."""
    return problem.code_prompt.splitlines()[0] + "\n"


def buggy(family: Family, problem: Problem, params: object) -> str | None:
    """A first attempt with the parameter off by one; None when the family has no such parameter."""
    if not isinstance(params, int):
        return None
    return signature(problem) + "    " + family.body.format(p=params + 1) + "\n"


def code_rows(rng: random.Random) -> dict[str, list[dict]]:
    sft: list[dict] = []
    held_out: dict[str, list[dict]] = {"prompts": [], "eval": []}
    for family in FAMILIES:
        sizes = {name: round(len(family.params) * share) for name, share in CODE_SHARES.items()}
        chosen = split_keys(family.params, rng, sizes, rest="sft")
        made = {name: [(make(family, p, rng), p) for p in params] for name, params in chosen.items()}
        check_keys_disjoint(family.kind, {n: [pr for pr, _ in v] for n, v in made.items()})
        for name, rows in held_out.items():
            rows.extend(_prompt_row(family, problem) for problem, _ in made[name])
        for problem, params in made["sft"]:
            row = _demonstration(family, problem, params, first_right=len(sft) % RIGHT_FIRST == 0)
            if row is not None:
                sft.append(row)
    rng.shuffle(sft)
    for rows in held_out.values():
        rng.shuffle(rows)
    return {"code_sft": sft, "code_prompts": held_out["prompts"], "code_eval": held_out["eval"]}


def interleaved(*parts: list[dict]) -> list[dict]:
    """Every part's rows, spread evenly through one list (row i of n sits at (i + 0.5) / n; ties in part order), so
    each stretch of one SFT epoch teaches every part's tool, not one tool and then the other."""
    placed = [((i + 0.5) / len(rows), k, row) for k, rows in enumerate(parts) for i, row in enumerate(rows)]
    return [row for _, _, row in sorted(placed, key=lambda p: p[:2])]


def _prompt_row(family: Family, problem: Problem) -> dict:
    return {
        "prompt": CODE_INSTRUCTION.format(code=problem.code_prompt) + f"\n\n{CODE_HINT}",
        "code_prompt": problem.code_prompt,
        "tests": problem.tests,
        "visible_tests": visible_tests(family, problem),
        "entry_point": problem.name,
        "key": problem.key,
        "kind": problem.kind,
    }


def _demonstration(family: Family, problem: Problem, params: object, first_right: bool) -> dict | None:
    row = _prompt_row(family, problem)
    right = signature(problem) + problem.body
    checks = row["visible_tests"]
    passed = tests_tool(right, checks, entry_point=problem.name)
    if passed.error or not passed.text.startswith("2/2"):
        raise AssertionError(f"{problem.key}: the reference fails its visible tests: {passed.text}")
    messages = [{"role": "user", "content": row["prompt"]}]
    wrong = None if first_right else buggy(family, problem, params)
    if wrong is not None:
        failed = tests_tool(wrong, checks, entry_point=problem.name)
        if failed.text.startswith("2/2"):  # the visible tests cannot tell: demonstrate a right first attempt
            wrong = None
        else:
            messages += [
                call("tests", wrong),
                result("tests", failed.text),
                {"role": "assistant", "content": "A visible test fails, so the function is wrong. I fix it."},
            ]
            messages[-1] = {**call("tests", right), "content": messages[-1]["content"]}
    if wrong is None:
        messages.append(call("tests", right))
    messages += [
        result("tests", passed.text),
        {"role": "assistant", "content": f"```python\n{problem.code_prompt}{problem.body}```"},
    ]
    return {
        "messages": messages,
        "visible_tests": checks,
        "entry_point": problem.name,
        "key": problem.key,
        "kind": problem.kind,
    }


def build() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    splits = math_rows(rng) | code_rows(rng)
    taken = frozenset(row["key"] for name in ("math_sft", "math_prompts", "math_eval") for row in splits[name])
    return splits | {"sft": interleaved(splits["math_sft"], splits["code_sft"])} | word_rows(rng, taken)


if __name__ == "__main__":
    write_splits(build, Path(__file__).resolve().parent)
