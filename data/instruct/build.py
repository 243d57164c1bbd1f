"""Build the shipped instruction-following data: sft.jsonl, prompts.jsonl, eval.jsonl, eval_ifbench.jsonl
(run: python data/instruct/build.py).

Rows are in google/IFEval's format (`key`, `prompt`, `instruction_id_list`, `kwargs`): a short writing task on
a topic, then 1-3 constraints with random arguments, each phrased by its own checker's description (the words
IFEval uses). A row's *key* is its topic; topics are split three ways, so eval, prompts and sft never share
one, whatever the constraints.

- sft.jsonl: prompt + completion. Answers are written *by rule* (templated sentences on the topic, then each
  constraint applied: bullets, paragraphs, a title, a P.S., an end phrase, lower/upper case, quotes, ...) and
  kept only when the ifeval verifier passes every constraint strictly; a draw that fails is redrawn. Rejection
  sampling from SmolLM2-135M-Instruct is the Qwen2.5 way but was measured too rare to fill a set (data/README.md).
- prompts.jsonl: the RL prompts (pairs, GRPO) on their own topics, the same constraint types.
- eval.jsonl: held-out topics, the same (IFEval) constraint types: in-distribution instruction following.
- eval_ifbench.jsonl: held-out topics with 1-2 IFBench constraint types that no training row uses: whether a
  policy learned to follow instructions or only the trained ones.

Deterministic: seeded RNGs and a fixed order, so a re-run rewrites the files byte for byte.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The generators run as scripts; their shared part sits one folder up, the verifier in the checkout's root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from keysplit import check_keys_disjoint, split_keys, write_splits
from keysplit import render as render  # re-exported: the data tests rebuild the files through the script

from reward.verifiers.ifeval import check_constraints
from reward.verifiers.ifeval_checkers import registry

SEED = 20251205
SIZES = {"eval": 16, "prompts": 20}  # topics; the rest go to sft
ROWS = {"sft": 240, "prompts": 120, "eval": 100, "eval_ifbench": 100}
# 100 eval rows gave prompt-level intervals of about +-0.08 around a stage's change, wider than the changes DPO and
# GRPO make; these rows are drawn last, so every other file and the first 100 eval rows stay byte for byte.
MORE_EVAL = 200

TOPICS = (
    "rainy mornings",
    "learning to cook",
    "a city park",
    "the night sky",
    "public libraries",
    "bicycles",
    "winter coats",
    "house plants",
    "a train journey",
    "learning a new language",
    "old photographs",
    "a quiet beach",
    "morning coffee",
    "board games",
    "the first day at school",
    "mountain hikes",
    "a small bakery",
    "street markets",
    "paper maps",
    "a lost umbrella",
    "night buses",
    "garden tomatoes",
    "a school choir",
    "handwritten letters",
    "autumn leaves",
    "a fishing trip",
    "a museum visit",
    "a snowy village",
    "kites",
    "a birthday cake",
    "a village well",
    "recycling at home",
    "a lighthouse",
    "the local post office",
    "a long walk",
    "wooden furniture",
    "a music lesson",
    "honey bees",
    "sunflowers",
    "a camping trip",
    "clean drinking water",
    "saving money",
    "a neighbour's dog",
    "a rainy football match",
    "a science fair",
    "fresh bread",
    "a broken clock",
    "a summer storm",
    "the village library",
    "tea with friends",
    "a picnic",
    "a marathon",
    "a tidy desk",
    "the ocean tide",
    "a farm in spring",
    "a moving day",
    "a power cut",
    "an old bridge",
    "a winter market",
    "a new job",
)
TASKS = (
    "Write a short note about {topic}.",
    "Describe {topic} for a child.",
    "Share a few thoughts on {topic}.",
    "Tell me something about {topic}.",
    "Give some advice related to {topic}.",
)
# Sentences the rule answers are built from: no commas (so `no_comma` holds) and no forbidden word below.
SENTENCES = (
    "I think {topic} can make an ordinary day feel special.",
    "Many people remember {topic} with a smile.",
    "There is always something new to notice about {topic}.",
    "It helps to slow down and enjoy {topic}.",
    "Small details matter when you think about {topic}.",
    "Friends and family often share stories about {topic}.",
    "A little patience goes a long way with {topic}.",
    "You can learn a lot by paying attention to {topic}.",
)
KEYWORDS = ("light", "simple", "calm", "memory", "journey", "detail", "patience", "season")
FORBIDDEN = ("terrible", "boring", "never", "hate", "awful", "ugly")
END_PHRASES = ("Stay safe.", "Is there anything else I can help with?", "That is all.", "Thank you for reading.")

# IFEval types the training rows use, each with an argument drawer. Pairs in CONFLICTS never share a row.
TRAINED = (
    "punctuation:no_comma",
    "change_case:english_lowercase",
    "change_case:english_capital",
    "startend:end_checker",
    "startend:quotation",
    "length_constraints:number_words",
    "length_constraints:number_paragraphs",
    "detectable_format:number_bullet_lists",
    "detectable_format:number_highlighted_sections",
    "detectable_format:title",
    "detectable_format:json_format",
    "detectable_content:postscript",
    "keywords:existence",
    "keywords:forbidden_words",
)
CONFLICTS = {
    frozenset({"change_case:english_lowercase", "change_case:english_capital"}),
    frozenset({"startend:end_checker", "startend:quotation"}),
    frozenset({"startend:end_checker", "detectable_content:postscript"}),
    frozenset({"length_constraints:number_paragraphs", "detectable_format:number_bullet_lists"}),
    frozenset({"detectable_format:number_highlighted_sections", "detectable_format:number_bullet_lists"}),
    frozenset({"change_case:english_capital", "detectable_format:number_highlighted_sections"}),
}
ALONE = {"detectable_format:json_format"}  # its answer is one JSON object: other constraints would break it
# IFBench types for the generalisation set: checkable offline, none of them trained.
IFBENCH = (
    "count:word_count_range",
    "count:unique_word_count",
    "count:conjunctions",
    "count:numbers",
    "count:pronouns",
    "words:alphabet",
    "words:vowel",
    "words:consonants",
    "words:no_consecutive",
    "words:prime_lengths",
    "format:parentheses",
    "format:quotes",
    "format:newline",
    "format:line_indent",
    "format:sub-bullets",
)


def _word_count(rng: random.Random) -> dict[str, Any]:
    relation = rng.choice(("less than", "at least"))
    return {"relation": relation, "num_words": rng.choice((60, 80, 100) if relation == "less than" else (15, 20, 25))}


def _word_range(rng: random.Random) -> dict[str, Any]:
    low = rng.choice((20, 30, 40))
    return {"min_words": low, "max_words": low + 30}


# Random arguments in IFEval's (and IFBench's) ranges, drawn here so that the checker draws none; types absent
# take no arguments.
ARGUMENTS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "startend:end_checker": lambda rng: {"end_phrase": rng.choice(END_PHRASES)},
    "length_constraints:number_words": _word_count,
    "length_constraints:number_paragraphs": lambda rng: {"num_paragraphs": rng.randint(2, 3)},
    "detectable_format:number_bullet_lists": lambda rng: {"num_bullets": rng.randint(2, 4)},
    "detectable_format:number_highlighted_sections": lambda rng: {"num_highlights": rng.randint(1, 3)},
    "detectable_content:postscript": lambda rng: {"postscript_marker": rng.choice(("P.S.", "P.P.S"))},
    "keywords:existence": lambda rng: {"keywords": rng.sample(KEYWORDS, rng.randint(1, 2))},
    "keywords:forbidden_words": lambda rng: {"forbidden_words": rng.sample(FORBIDDEN, 2)},
    "count:word_count_range": _word_range,
    "count:unique_word_count": lambda rng: {"N": rng.choice((20, 30, 40))},
    "count:conjunctions": lambda rng: {"small_n": rng.randint(2, 4)},
    "count:numbers": lambda rng: {"N": rng.randint(2, 5)},
    "count:pronouns": lambda rng: {"N": rng.randint(3, 8)},
}


def draw_kwargs(instruction_id: str, rng: random.Random) -> dict[str, Any]:
    draw = ARGUMENTS.get(instruction_id)
    return draw(rng) if draw else {}


def describe(instruction_id: str, kwargs: dict[str, Any]) -> str:
    checker = registry()[instruction_id](instruction_id)
    return str(checker.build_description(**kwargs))


def draw_constraints(types: tuple[str, ...], rng: random.Random, most: int) -> tuple[list[str], list[dict[str, Any]]]:
    count = rng.randint(1, most)
    chosen: list[str] = []
    for instruction_id in rng.sample(types, len(types)):
        if len(chosen) == count:
            break
        clash = any(frozenset({instruction_id, c}) in CONFLICTS for c in chosen)
        if clash or (chosen and (instruction_id in ALONE or chosen[0] in ALONE)):
            continue
        chosen.append(instruction_id)
    return chosen, [draw_kwargs(i, rng) for i in chosen]


def make_row(topic: str, types: tuple[str, ...], rng: random.Random, most: int) -> dict[str, Any]:
    ids, kwargs = draw_constraints(types, rng, most)
    task = rng.choice(TASKS).format(topic=topic)
    rules = " ".join(describe(i, k) for i, k in zip(ids, kwargs, strict=True))
    return {"key": topic, "prompt": f"{task} {rules}", "instruction_id_list": ids, "kwargs": kwargs}


def rule_answer(row: dict[str, Any], rng: random.Random) -> str:
    """An answer that meets the row's constraints by construction (the verifier confirms it in `build`)."""
    spec = dict(zip(row["instruction_id_list"], row["kwargs"], strict=True))
    count = spec.get("detectable_format:number_bullet_lists", {}).get("num_bullets", rng.randint(2, 3))
    sentences = _sentences(row["key"], spec, count, rng)
    if "detectable_format:json_format" in spec:
        return '{"answer": "' + " ".join(sentences) + '"}'
    return _finish(_layout(row["key"], spec, sentences, count), row["key"], spec)


def _sentences(topic: str, spec: dict[str, Any], count: int, rng: random.Random) -> list[str]:
    """The content: `count` sentences on the topic, the keywords, enough words, the highlights."""
    sentences = [s.format(topic=topic) for s in rng.sample(SENTENCES, count)]
    sentences[0] = sentences[0][0].upper() + sentences[0][1:]
    if "keywords:existence" in spec:
        sentences.append(" ".join(f"It has a {word} side." for word in spec["keywords:existence"]["keywords"]))
    words = spec.get("length_constraints:number_words", {})
    if words.get("relation") == "at least":
        while len(" ".join(sentences).split()) <= words["num_words"]:
            sentences.append(SENTENCES[len(sentences) % len(SENTENCES)].format(topic=topic))
    for i in range(spec.get("detectable_format:number_highlighted_sections", {}).get("num_highlights", 0)):
        sentences[i % len(sentences)] = f"*{sentences[i % len(sentences)]}*"
    return sentences


def _layout(topic: str, spec: dict[str, Any], sentences: list[str], count: int) -> str:
    """Bullets, `***`-separated paragraphs, or one paragraph."""
    if "detectable_format:number_bullet_lists" in spec:
        rest = " ".join(sentences[count:])
        return "\n".join(f"* {s}" for s in sentences[:count]) + (f"\n\n{rest}" if rest else "")
    if "length_constraints:number_paragraphs" in spec:
        n = spec["length_constraints:number_paragraphs"]["num_paragraphs"]
        while len(sentences) < n:
            sentences.append(SENTENCES[len(sentences)].format(topic=topic))
        return "\n\n***\n\n".join(" ".join(sentences[i::n]) for i in range(n))
    return " ".join(sentences)


def _finish(body: str, topic: str, spec: dict[str, Any]) -> str:
    """Title, P.S., end phrase, then case and quotes, which apply to everything before them."""
    if "detectable_format:title" in spec:
        body = f"<<{topic.title()}>>\n\n{body}"
    if "detectable_content:postscript" in spec:
        body += f"\n\n{spec['detectable_content:postscript']['postscript_marker']} Take care of yourself."
    if "startend:end_checker" in spec:
        body += " " + spec["startend:end_checker"]["end_phrase"]
    if "change_case:english_lowercase" in spec:
        body = body.lower()
    if "change_case:english_capital" in spec:
        body = body.upper()
    if "startend:quotation" in spec:
        body = f'"{body}"'
    return body


@dataclass(frozen=True)
class Topic:
    key: str


def build() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(SEED)
    split = split_keys([Topic(t) for t in TOPICS], rng, SIZES, rest="sft")
    check_keys_disjoint("instruct", split)
    rows: dict[str, list[dict[str, Any]]] = {"sft": []}
    while len(rows["sft"]) < ROWS["sft"]:
        row = make_row(rng.choice(split["sft"]).key, TRAINED, rng, most=3)
        answer = rule_answer(row, rng)
        # A draw whose rule answer misses a constraint is redrawn, so every SFT answer is verified.
        if all(r.strict for r in check_constraints(answer, row)):
            rows["sft"].append({**row, "completion": answer})
    rows["prompts"] = [make_row(rng.choice(split["prompts"]).key, TRAINED, rng, most=3) for _ in range(ROWS["prompts"])]
    rows["eval"] = [make_row(rng.choice(split["eval"]).key, TRAINED, rng, most=3) for _ in range(ROWS["eval"])]
    rows["eval_ifbench"] = [
        make_row(rng.choice(split["eval"]).key, IFBENCH, rng, most=2) for _ in range(ROWS["eval_ifbench"])
    ]
    rows["eval"] += [make_row(rng.choice(split["eval"]).key, TRAINED, rng, most=3) for _ in range(MORE_EVAL)]
    return rows


if __name__ == "__main__":
    write_splits(build, Path(__file__).resolve().parent)
