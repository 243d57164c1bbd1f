"""Build the procedural Python problems: data/code/sft.jsonl, prompts.jsonl, grpo.jsonl, eval.jsonl.

    python data/code/procedural.py

HumanEval's 64 held-out problems are too few to see a change on (one problem is 1.6 points) and too hard for
the default model (SmolLM2-135M-Instruct passes about 1 in 8). These problems are one-line functions of a
dozen kinds (FAMILIES) — add a constant, keep the multiples of k, replace a character, ... — each with a
parameter, so there are hundreds of distinct problems whose difficulty spans what a small model sometimes
gets right.

A problem's *key* is its kind and parameter ("add:7"). Each kind's keys are split three ways (eval, prompts,
sft) and no key is in two files, whatever its function name or wording; eval and prompts use each key once.
The kinds of RL_ONLY_KINDS have no sft keys at all: SFT teaches the answer format and the other kinds, and only
execution feedback (pairs, DPO, GRPO) meets these. The RL prompts of GRPO_ONLY_KINDS go to grpo.jsonl, the
GRPO stage's prompts, and the rest to prompts.jsonl, the pairs stage's: the two RL stages never share a problem.
Every row is a HumanEval-style problem: `code_prompt` (signature, docstring, one example), `tests` (a
`check(candidate)` of asserts), `entry_point`, and the reference solution, which the build runs against
its own tests before writing anything. Deterministic: one seeded RNG, a re-run writes the same bytes.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from align.data.load import CODE_INSTRUCTION

# The generators run as scripts (python data/<set>/<script>.py); their shared part sits one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from keysplit import check_keys_disjoint, split_keys, write_splits
from keysplit import render as render  # re-exported: the data tests rebuild the files through the script

SEED = 20261128  # arbitrary; fixed so the files are reproducible
SHARES = {"eval": 0.4, "prompts": 0.3}  # of each kind's keys; sft gets the rest
# Kinds SFT never sees: their keys go to eval and prompts only (prompts take sft's share). SFT on every kind
# solved all 178 held-out problems (base 0.63 -> 1.00, 99 % of the RL prompts' samples passing), which leaves
# DPO and GRPO nothing to learn; these are the kinds the base model solves some of the time (27-75 %), so the
# SFT policy still fails some of them and execution feedback has right and wrong answers to learn from.
RL_ONLY_KINDS = frozenset(
    {"count_above", "replace", "subtract", "count_char", "keep_multiples", "first_chars", "last_chars"}
)
# Kinds only GRPO meets. With every RL kind in the pairs, DPO took held-out pass@1 to 0.978 and left GRPO four
# problems to gain, so the chain could not show what online RL adds. replace is the kind DPO gained most on
# after count_above (8 -> 22 of 22) and GRPO alone also learns (8 -> 22 of 22 in 32 steps from the SFT policy);
# count_above stays with the pairs, which bring DPO most of its gain.
GRPO_ONLY_KINDS = frozenset({"replace"})
assert GRPO_ONLY_KINDS <= RL_ONLY_KINDS  # a kind SFT taught would leave GRPO little to learn
SFT_ROWS_PER_KEY = 2  # two namings/wordings per SFT key, so SFT does not tie a skill to one name
LETTERS = "abcdefghilmnoprstuwy"
WORDS = ("cat", "sun", "tree", "blue", "pre", "un", "re", "dis", "over", "sub")
SAMPLE_STRINGS = ("banana", "hello world", "", "a", "mississippi", "the cat sat", "racecar", "abc")
SAMPLE_LISTS = ([], [3], [1, 2, 3, 4, 5, 6], [10, -4, 7, 0, 15], [12, 18, 25, 30, 7, 42], [-9, 8, 21, 5, 60])
SAMPLE_SENTENCES = ("", "a bb ccc dddd", "the quick brown fox jumps", "hello wonderful world", "x yy zzzzzzzzz")


@dataclass(frozen=True)
class Problem:
    key: str
    kind: str
    name: str
    code_prompt: str
    body: str  # the reference solution's body, indented
    tests: str


@dataclass(frozen=True)
class Family:
    kind: str
    params: tuple
    names: tuple[str, ...]  # function names, formatted with the parameter(s) as {p}, {q}
    signature: str  # "(x: int) -> int"
    docs: tuple[str, ...]  # docstring wordings
    body: str  # "return x + {p}"
    inputs: tuple  # argument tuples the tests call with


def _int_inputs() -> tuple:
    return tuple((x,) for x in (0, 1, 5, -3, 12, 100))


FAMILIES = (
    Family(
        "add",
        tuple(range(2, 41)),
        ("add_{p}", "plus_{p}"),
        "(x: int) -> int",
        ("Return x plus {p}.", "Add {p} to the number x and return the result."),
        "return x + {p}",
        _int_inputs(),
    ),
    Family(
        "subtract",
        tuple(range(2, 41)),
        ("subtract_{p}", "minus_{p}"),
        "(x: int) -> int",
        ("Return x minus {p}.", "Take {p} away from x and return what is left."),
        "return x - {p}",
        _int_inputs(),
    ),
    Family(
        "multiply",
        tuple(range(2, 41)),
        ("times_{p}", "multiply_by_{p}"),
        "(x: int) -> int",
        ("Return x multiplied by {p}.", "Return {p} times the number x."),
        "return x * {p}",
        _int_inputs(),
    ),
    Family(
        "is_multiple",
        tuple(range(2, 41)),
        ("is_multiple_of_{p}", "divisible_by_{p}"),
        "(n: int) -> bool",
        ("Return True if n is divisible by {p}, else False.", "Check whether {p} divides n evenly."),
        "return n % {p} == 0",
        tuple((n,) for n in (0, 7, 12, 30, 45, 60, 99)),
    ),
    Family(
        "count_char",
        tuple(LETTERS),
        ("count_{p}", "number_of_{p}s"),
        "(s: str) -> int",
        ("Return how many times the letter '{p}' occurs in s.", "Count the '{p}' characters in the string s."),
        "return s.count('{p}')",
        tuple((s,) for s in SAMPLE_STRINGS),
    ),
    Family(
        "repeat",
        tuple(range(2, 10)),
        ("repeat_{p}", "times_{p}_text"),
        "(s: str) -> str",
        ("Return the string s repeated {p} times.", "Return {p} copies of s joined together."),
        "return s * {p}",
        tuple((s,) for s in ("ab", "", "x", "hi ")),
    ),
    Family(
        "first_chars",
        tuple(range(1, 10)),
        ("first_{p}", "prefix_{p}"),
        "(s: str) -> str",
        ("Return the first {p} characters of s.", "Return s cut down to its first {p} characters."),
        "return s[:{p}]",
        tuple((s,) for s in SAMPLE_STRINGS),
    ),
    Family(
        "last_chars",
        tuple(range(1, 10)),
        ("last_{p}", "suffix_{p}"),
        "(s: str) -> str",
        ("Return the last {p} characters of s.", "Return the final {p} characters of the string s."),
        "return s[-{p}:]",
        tuple((s,) for s in SAMPLE_STRINGS if s),
    ),
    Family(
        "sum_above",
        tuple(range(0, 60)),
        ("sum_above_{p}", "total_over_{p}"),
        "(xs: list[int]) -> int",
        (
            "Return the sum of the numbers in xs that are greater than {p}.",
            "Add up every element of xs larger than {p} and return the total.",
        ),
        "return sum(x for x in xs if x > {p})",
        tuple((xs,) for xs in SAMPLE_LISTS),
    ),
    Family(
        "count_above",
        tuple(range(0, 60)),
        ("count_above_{p}", "how_many_over_{p}"),
        "(xs: list[int]) -> int",
        ("Return how many numbers in xs are greater than {p}.", "Count the elements of xs that exceed {p}."),
        "return sum(1 for x in xs if x > {p})",
        tuple((xs,) for xs in SAMPLE_LISTS),
    ),
    Family(
        "keep_multiples",
        tuple(range(2, 21)),
        ("multiples_of_{p}", "keep_divisible_by_{p}"),
        "(xs: list[int]) -> list[int]",
        (
            "Return the numbers in xs that are divisible by {p}, in their original order.",
            "Keep only the elements of xs that are multiples of {p}.",
        ),
        "return [x for x in xs if x % {p} == 0]",
        tuple((xs,) for xs in SAMPLE_LISTS),
    ),
    Family(
        "first_multiples",
        tuple(range(2, 26)),
        ("first_multiples_of_{p}", "table_of_{p}"),
        "(n: int) -> list[int]",
        (
            "Return the list [{p}, 2*{p}, ..., n*{p}] of the first n multiples of {p}.",
            "Return the first n multiples of {p}, starting with {p} itself.",
        ),
        "return [{p} * i for i in range(1, n + 1)]",
        tuple((n,) for n in (0, 1, 3, 5)),
    ),
    Family(
        "replace",
        tuple(itertools.permutations("aeinorst", 2)),
        ("replace_{p}_with_{q}", "swap_{p}_to_{q}"),
        "(s: str) -> str",
        ("Return s with every '{p}' replaced by '{q}'.", "Replace each letter '{p}' in s with the letter '{q}'."),
        "return s.replace('{p}', '{q}')",
        tuple((s,) for s in SAMPLE_STRINGS),
    ),
    Family(
        "count_long_words",
        tuple(range(1, 8)),
        ("words_longer_than_{p}", "count_words_over_{p}"),
        "(sentence: str) -> int",
        (
            "Return how many words in the sentence have more than {p} letters (words are separated by spaces).",
            "Count the space-separated words of sentence longer than {p} characters.",
        ),
        "return sum(1 for w in sentence.split() if len(w) > {p})",
        tuple((s,) for s in SAMPLE_SENTENCES),
    ),
    Family(
        "starts_with",
        WORDS,
        ("starts_with_{p}", "begins_with_{p}"),
        "(s: str) -> bool",
        ("Return True if the string s starts with '{p}', else False.", "Check whether s begins with '{p}'."),
        "return s.startswith('{p}')",
        tuple((s,) for s in ("", "cat", "sunset", "tree house", "prefix", "un", "re")),
    ),
)


def _slots(params: object) -> dict[str, object]:
    return {"p": params[0], "q": params[1]} if isinstance(params, tuple) else {"p": params}


def make(family: Family, params: object, rng: random.Random) -> Problem:
    slots = _slots(params)
    name = rng.choice(family.names).format(**slots)
    body = "    " + family.body.format(**slots) + "\n"
    function = _compile(name, family.signature, body)
    example = max(family.inputs[:4], key=lambda args: len(repr(args)))  # the most telling of the first few
    doc = rng.choice(family.docs).format(**slots)
    args = ", ".join(map(repr, example))
    code_prompt = (
        f'def {name}{family.signature}:\n    """{doc}\n\n    >>> {name}({args})\n    {function(*example)!r}\n    """\n'
    )
    checks = "".join(
        f"    assert candidate({', '.join(map(repr, args))}) == {function(*args)!r}\n" for args in family.inputs
    )
    key = f"{family.kind}:" + ",".join(str(v) for v in slots.values())
    return Problem(key, family.kind, name, code_prompt, body, f"def check(candidate):\n{checks}")


def _compile(name: str, signature: str, body: str) -> Callable:
    namespace: dict = {}
    exec(f"def {name}{signature}:\n{body}", namespace)  # our own reference, to compute the expected values
    return namespace[name]


def passes(problem: Problem, solution: str) -> bool:
    """Whether `solution` (a whole program defining the entry point) passes the problem's tests, in-process."""
    namespace: dict = {}
    try:
        exec(f"{solution}\n{problem.tests}\ncheck({problem.name})\n", namespace)
    except Exception:
        return False
    return True


def _row(problem: Problem, split: str, index: int) -> dict:
    row = {
        "prompt": CODE_INSTRUCTION.format(code=problem.code_prompt),
        "code_prompt": problem.code_prompt,
        "tests": problem.tests,
        "entry_point": problem.name,
        "key": problem.key,
        # The problem's kind as a column of its own: pairs balance over it and evaluation breaks down by it.
        "kind": problem.kind,
        "task_id": f"procedural/{split}/{index}",
    }
    solution = f"```python\n{problem.code_prompt}{problem.body}```"
    return row | ({"completion": solution} if split == "sft" else {"solution": solution})


def build() -> dict[str, list[dict]]:
    rng = random.Random(SEED)
    problems: dict[str, list[Problem]] = {"sft": [], "prompts": [], "eval": []}
    for family in FAMILIES:
        rl_only = family.kind in RL_ONLY_KINDS
        shares = {"eval": SHARES["eval"]} if rl_only else SHARES
        sizes = {split: round(len(family.params) * share) for split, share in shares.items()}
        chosen = split_keys(family.params, rng, sizes, rest="prompts" if rl_only else "sft")
        chosen["sft"] = chosen.get("sft", []) * SFT_ROWS_PER_KEY
        made = {split: [make(family, p, rng) for p in params] for split, params in chosen.items()}
        check_keys_disjoint(family.kind, made)
        for split, rows in made.items():
            problems[split] += rows
    splits = {}
    for split, rows in problems.items():
        rng.shuffle(rows)  # mixed kinds, so a prefix of any file is a fair sample
        for problem in rows:
            if not passes(problem, problem.code_prompt + problem.body):
                raise AssertionError(f"{problem.key}: the reference solution fails its own tests")
        if split == "prompts":  # split after the shuffle, so sft and eval stay what they were before grpo.jsonl
            splits["grpo"] = [_row(p, "grpo", i) for i, p in enumerate(r for r in rows if r.kind in GRPO_ONLY_KINDS)]
            rows = [r for r in rows if r.kind not in GRPO_ONLY_KINDS]
        splits[split] = [_row(p, split, i) for i, p in enumerate(rows)]
    check_disjoint(splits)
    return splits


def check_disjoint(splits: dict[str, list[dict]]) -> None:
    """Fail if a prompt text occurs in two splits, or twice in eval / prompts."""
    seen: dict[str, str] = {}
    for name, rows in splits.items():
        for row in rows:
            if seen.get(row["prompt"], name) != name or (name != "sft" and row["prompt"] in seen):
                raise AssertionError(f"prompt twice ({seen[row['prompt']]} and {name}): {row['prompt'][:80]!r}")
            seen[row["prompt"]] = name


if __name__ == "__main__":
    write_splits(build, Path(__file__).resolve().parent)
