"""Build the shipped arithmetic data: sft.jsonl, prompts.jsonl, eval.jsonl, eval_ood.jsonl
(run: python data/math/build.py).

Deterministic: one seeded RNG, fixed iteration order, so a re-run rewrites the files byte for byte.

Levels were chosen by measuring SmolLM2-135M-Instruct (data/math/measure.py, numbers in data/README.md):
each is a kind of problem it solves sometimes (greedy 20-70%), so sampled answers mix right and wrong.
Two-digit sums with carries and a+b-c chains were measured too and left out: it almost never solves them.

A problem's *key* is its operation and operands ("7+5"). The keys of each level are split three ways:
eval, prompts and sft never share a key, in any wording. Eval measures facts the model was not trained on;
prompts (the RL stages' data) are problems SFT did not show, so the SFT policy fails some of them the way it
fails eval, and DPO pairs and GRPO groups carry signal. With shared keys SFT memorised the RL prompts: it
passed 87 % of its samples there, and 76 of 100 level-3/4 prompts gave no pair.

Eval has 100 problems per level so a 5-point change is visible. Its first 100 rows are the original
25-per-level set, drawn from the same RNG stream as the training files (which this build leaves byte for
byte as they were); the other 300 come from a second RNG over the level's *held-out keys*: the eval keys and
the training-side keys no training file drew. Levels 1 and 3 have few such keys, so there one key appears
in several wordings; every eval row carries its `key` and the evaluator resamples keys, not rows, for its
intervals. eval_ood.jsonl asks the same held-out keys in phrasings no training file uses (OOD_TEMPLATES,
other names and things, other instructions): whether a policy learned arithmetic or the training wording.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The generators run as scripts (python data/<set>/<script>.py); their shared part sits one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from keysplit import check_keys_disjoint, split_keys, write_splits
from keysplit import render as render  # re-exported: the data tests rebuild the files through the script

SEED = 20241219  # arbitrary; fixed so the files are reproducible
INSTRUCTION = "Put the final answer in \\boxed{}."
EVAL_PER_LEVEL = 25  # the original held-out set, drawn with the training files from one RNG stream
EVAL_TOTAL_PER_LEVEL = 100  # with the extension drawn from EXTENSION_SEED
EXTENSION_SEED = SEED + 1
OOD_SEED = SEED + 2
OOD_PER_LEVEL = 50
# After SFT, sampled answers to unseen level-1/2 problems are right 99 % / 96 % of the time (measure.py, k=4),
# so those prompts rarely yield a pair; the RL prompts weigh the levels SFT leaves unreliable.
PROMPTS_PER_LEVEL = {1: 20, 2: 20, 3: 60, 4: 60}
SFT_PER_LEVEL = 80

NAMES = ("Tom", "Mia", "Sam", "Ava", "Leo", "Zoe", "Ben", "Lily", "Max", "Emma", "Noah", "Ruby")
ITEMS = ("apples", "pencils", "stickers", "marbles", "books", "cookies", "cards", "shells", "coins", "toys")


@dataclass(frozen=True)
class Problem:
    key: str
    question: str
    solution: str
    answer: int


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    keys: tuple[tuple[int, int], ...]
    make: Callable[[int, int, random.Random], Problem]


def _expression_or_word(rng: random.Random, expression: str, templates: tuple[str, ...], **slots: int) -> str:
    # Half plain expressions, half word problems, so training does not tie the skill to one phrasing.
    if rng.random() < 0.5:
        return expression
    return rng.choice(templates).format(name=rng.choice(NAMES), items=rng.choice(ITEMS), **slots)


SUM_TEMPLATES = (
    "{name} has {a} {items} and gets {b} more. How many {items} does {name} have now?",
    "There are {a} {items} in a box and {b} {items} on the table. How many {items} are there in all?",
    "{name} found {a} {items} in the morning and {b} {items} in the afternoon. How many {items} did {name} find?",
)
DIFFERENCE_TEMPLATES = (
    "{name} has {a} {items} and gives away {b}. How many {items} does {name} have left?",
    "There were {a} {items} on a shelf. {name} took {b} of them. How many {items} are on the shelf now?",
    "{name} had {a} {items} and lost {b}. How many {items} does {name} have now?",
)
PRODUCT_TEMPLATES = (
    "There are {a} bags with {b} {items} in each bag. How many {items} are there in total?",
    "{name} buys {a} packs of {items}. Each pack has {b} {items}. How many {items} does {name} buy?",
    "{name} puts {b} {items} in each of {a} rows. How many {items} are there?",
)


def _sum(a: int, b: int, rng: random.Random) -> Problem:
    s = a + b
    question = _expression_or_word(rng, f"What is {a} + {b}?", SUM_TEMPLATES, a=a, b=b)
    return Problem(f"{a}+{b}", question, f"{a} + {b} = {s}.", s)


def _product(a: int, b: int, rng: random.Random) -> Problem:
    p = a * b
    question = _expression_or_word(rng, f"What is {a} × {b}?", PRODUCT_TEMPLATES, a=a, b=b)
    # One equation, no split into 10 + ones: a split of 12 × 9 takes 44 tokens, too close to the 48 the
    # evaluation allows, and the model already knows much of the table (47 % greedy).
    steps = f"{a} × {b} = {p}."
    return Problem(f"{a}*{b}", question, steps, p)


def _difference(a: int, b: int, rng: random.Random) -> Problem:
    d = a - b
    question = _expression_or_word(rng, f"What is {a} - {b}?", DIFFERENCE_TEMPLATES, a=a, b=b)
    return Problem(f"{a}-{b}", question, f"{a} - {b} = {d}.", d)


def _two_digit_difference(a: int, b: int, rng: random.Random) -> Problem:
    d = a - b
    tens, ones = divmod(a, 10)
    question = _expression_or_word(rng, f"What is {a} - {b}?", DIFFERENCE_TEMPLATES, a=a, b=b)
    # Work on the ones digit only, then put the tens back: the step a small model can learn to copy.
    steps = f"{ones} - {b} = {ones - b}. {tens * 10} + {ones - b} = {d}."
    return Problem(f"{a}-{b}", question, steps, d)


LEVELS = (
    Level(1, "one-digit sums", tuple((a, b) for a in range(1, 10) for b in range(1, 10)), _sum),
    Level(2, "products up to 12 × 12", tuple((a, b) for a in range(2, 13) for b in range(2, 13)), _product),
    Level(3, "one-digit differences", tuple((b + d, b) for b in range(1, 10) for d in range(10)), _difference),
    Level(
        4,
        "two-digit minus one-digit, no borrow",
        tuple((a, b) for a in range(10, 100) for b in range(1, a % 10 + 1)),
        _two_digit_difference,
    ),
)


def _prompt(problem: Problem) -> str:
    return f"{problem.question} {INSTRUCTION}"


def _completion(problem: Problem) -> str:
    return f"{problem.solution} The answer is \\boxed{{{problem.answer}}}."


def _draw(level: Level, keys: list[tuple[int, int]], n: int, rng: random.Random, seen: set[str]) -> list[Problem]:
    """`n` problems with prompt texts not in `seen`, cycling through `keys` so every key is used evenly."""
    problems: list[Problem] = []
    for i in range(50 * n):
        a, b = keys[i % len(keys)]
        problem = level.make(a, b, rng)
        # On a later pass over a small key set the plain expression is taken; the next pass tries a new wording.
        if _prompt(problem) not in seen:
            seen.add(_prompt(problem))
            problems.append(problem)
            if len(problems) == n:
                return problems
    raise RuntimeError(f"level {level.number}: only {len(problems)} of {n} distinct prompts from {len(keys)} keys")


def build() -> dict[str, list[dict]]:
    """The four files as lists of rows, in file order."""
    rng = random.Random(SEED)
    seen: set[str] = set()
    splits: dict[str, list[dict]] = {"sft": [], "prompts": [], "eval": []}
    held_out_keys: dict[int, list[tuple[int, int]]] = {}
    training: dict[int, list[Problem]] = {}
    for level in LEVELS:
        half = (len(level.keys) - EVAL_PER_LEVEL) // 2
        cut = split_keys(level.keys, rng, {"eval": EVAL_PER_LEVEL, "prompts": half}, rest="sft")
        eval_keys, train_keys = cut["eval"], cut["prompts"] + cut["sft"]
        held_out = _draw(level, eval_keys, EVAL_PER_LEVEL, rng, seen)
        prompts = _draw(level, cut["prompts"], PROMPTS_PER_LEVEL[level.number], rng, seen)
        sft = _draw(level, cut["sft"], SFT_PER_LEVEL, rng, seen)
        check_keys_disjoint(f"level {level.number}", {"eval": held_out, "prompts": prompts, "sft": sft})
        used = {p.key for p in prompts + sft}
        # Training-side keys that no training file drew are as unseen as the eval keys; new keys first.
        held_out_keys[level.number] = [k for k in train_keys if level.make(*k, random.Random()).key not in used]
        held_out_keys[level.number] += eval_keys
        training[level.number] = prompts + sft
        splits["eval"] += [_eval_row(p, level.number) for p in held_out]
        splits["prompts"] += [{"prompt": _prompt(p), "answer": str(p.answer), "level": level.number} for p in prompts]
        splits["sft"] += [{"prompt": _prompt(p), "completion": _completion(p)} for p in sft]
    for rows in splits.values():
        rng.shuffle(rows)  # mixed levels, so a prefix of any file is a fair sample
    splits["eval"] += _extension(held_out_keys, training, seen)
    splits["eval_ood"] = _ood(held_out_keys, training, seen)
    check_disjoint(splits)
    return splits


def _eval_row(problem: Problem, level: int) -> dict:
    return {"prompt": _prompt(problem), "answer": str(problem.answer), "level": level, "key": problem.key}


def _extension(
    held_out_keys: dict[int, list[tuple[int, int]]], training: dict[int, list[Problem]], seen: set[str]
) -> list[dict]:
    """The eval rows after the original 100, from their own RNG so the training files stay as they were."""
    rng = random.Random(EXTENSION_SEED)
    rows = []
    for level in LEVELS:
        problems = _draw(level, held_out_keys[level.number], EVAL_TOTAL_PER_LEVEL - EVAL_PER_LEVEL, rng, seen)
        check_keys_disjoint(level.number, {"eval": problems, "training": training[level.number]})
        rows += [_eval_row(p, level.number) for p in problems]
    rng.shuffle(rows)
    return rows


# Phrasings no training file uses: no "What is", none of the training templates, other names and things,
# and other wordings of the request for a boxed answer.
OOD_NAMES = ("Priya", "Omar", "Hana", "Diego", "Freya", "Kofi", "Ines", "Yuki")
OOD_ITEMS = ("stamps", "pebbles", "buttons", "beads", "tickets", "acorns", "postcards", "bottle caps")
OOD_INSTRUCTIONS = (
    "Write the result inside \\boxed{}.",
    "Give your final number in \\boxed{}.",
    "End with the answer in \\boxed{}.",
)
OOD_TEMPLATES = {
    1: (
        "Add {a} and {b}.",
        "How much is {a} plus {b}?",
        "{name} collected {a} {items} on Monday and {b} on Tuesday. What is the total number of {items}?",
        "A jar holds {a} {items}. {name} drops in another {b}. Count the {items} in the jar.",
    ),
    2: (
        "Multiply {a} by {b}.",
        "How much is {a} times {b}?",
        "{name} arranges {items} in {a} rows of {b}. How many {items} is that altogether?",
        "Each of {a} envelopes contains {b} {items}. Find the number of {items} in all the envelopes.",
    ),
    3: (
        "Subtract {b} from {a}.",
        "How much is {a} minus {b}?",
        "{name} owned {a} {items} and handed {b} to a friend. How many {items} remain with {name}?",
        "A tray had {a} {items}; {b} were eaten. Count the {items} still on the tray.",
    ),
}
OOD_TEMPLATES[4] = OOD_TEMPLATES[3]


def _ood(
    held_out_keys: dict[int, list[tuple[int, int]]], training: dict[int, list[Problem]], seen: set[str]
) -> list[dict]:
    """eval_ood.jsonl: the held-out keys of every level, asked in OOD_TEMPLATES' wordings."""
    rng = random.Random(OOD_SEED)
    rows = []
    for level in LEVELS:
        keys = held_out_keys[level.number]
        problems: list[tuple[Problem, str]] = []
        for i in range(50 * OOD_PER_LEVEL):
            a, b = keys[i % len(keys)]
            problem = level.make(a, b, rng)
            question = rng.choice(OOD_TEMPLATES[level.number]).format(
                a=a, b=b, name=rng.choice(OOD_NAMES), items=rng.choice(OOD_ITEMS)
            )
            prompt = f"{question} {rng.choice(OOD_INSTRUCTIONS)}"
            if prompt not in seen:
                seen.add(prompt)
                problems.append((problem, prompt))
                if len(problems) == OOD_PER_LEVEL:
                    break
        else:
            raise RuntimeError(f"level {level.number}: only {len(problems)} distinct out-of-template prompts")
        check_keys_disjoint(level.number, {"eval_ood": [p for p, _ in problems], "training": training[level.number]})
        rows += [
            {"prompt": prompt, "answer": str(p.answer), "level": level.number, "key": p.key} for p, prompt in problems
        ]
    rng.shuffle(rows)
    return rows


def check_disjoint(splits: dict[str, list[dict]]) -> None:
    """Fail if any prompt text occurs twice, within a split or across splits."""
    seen: dict[str, str] = {}
    for name, rows in splits.items():
        for row in rows:
            if row["prompt"] in seen:
                raise AssertionError(f"prompt in both {seen[row['prompt']]} and {name}: {row['prompt']!r}")
            seen[row["prompt"]] = name


if __name__ == "__main__":
    write_splits(build, Path(__file__).resolve().parent)
