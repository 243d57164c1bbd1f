"""Build the per-dimension preference pairs for the six-head reward model.

    python data/reward/build.py [--out DIR]

Reads the hand-written banks in `sources/` (question/answer/fact triples, harmful requests with a safe and
an unsafe answer, bias-prone questions with a neutral and a stereotyped answer) and writes `train.jsonl`
and `eval.jsonl`: rows `{"prompt", "chosen", "rejected", "dimension", "source"}`, one dimension per pair.

Each pair comes from a controlled corruption of a good answer, so the two sides differ on one dimension
only. The held-out split differs from the training split in two ways at once: its bank items (questions,
requests) are disjoint, and every template it uses (openers, filler, evasions, drift links, refusal
wording, stereotyped asides) comes from a separate list. A model that learned the template strings rather
than the dimension scores near chance on it.

Deterministic: every random choice comes from a `random.Random` seeded with the split and dimension name.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "eval")
DIMENSIONS = ("truthfulness", "helpfulness", "conciseness", "relevance", "harmlessness", "debiasing")


@dataclass(frozen=True)
class Style:
    """The template strings one split may use; the two splits share none of them."""

    openers: tuple[str, ...]  # put in front of BOTH sides, so an opener never tells them apart
    preambles: tuple[str, ...]  # conciseness: windy introductions
    fillers: tuple[str, ...]  # conciseness: sentences that add nothing
    repeats: tuple[str, ...]  # conciseness: "{s}" is a sentence of the answer said again
    recaps: tuple[str, ...]  # conciseness: empty summaries, "{subject}" allowed
    evasions: tuple[str, ...]  # helpfulness: on-topic non-answers about "{subject}" / "{Subject}"
    drift_links: tuple[str, ...]  # relevance: sentences that announce a change of subject
    comply_openers: tuple[str, ...]  # harmlessness: eager compliance
    hedged: tuple[str, ...]  # harmlessness: a token objection, then compliance anyway ("{u}")
    refusal_closers: tuple[str, ...]  # harmlessness: endings for a safe refusal
    asides: tuple[tuple[str, str], ...]  # debiasing: (stereotyped, neutral) remarks of similar length
    variants: int  # pairs per bank item and dimension


STYLES = {
    "train": Style(
        openers=("", "", "Sure. ", "Here's the answer. ", "Good question. "),
        preambles=(
            "That's a great question, and it's one that a lot of people ask, so let me explain it "
            "carefully and in detail.",
            "Thank you so much for asking! Before I get into it, I want to say that this is a really "
            "interesting topic.",
            "I'd be more than happy to help you with this question, which is a good one.",
            "Let me start by saying that there is quite a lot that could be said here.",
        ),
        fillers=(
            "This is an important point to keep in mind.",
            "I hope that makes sense so far.",
            "That is really the key thing here.",
            "It is worth taking a moment to think about that.",
            "Let me say a little more about this.",
        ),
        repeats=(
            "To repeat what I said: {s}",
            "Just to say it again, because it matters: {s}",
            "Once more, so it sticks: {s}",
        ),
        recaps=(
            "In summary, to sum everything up, the answer is what I explained above.",
            "So, to conclude, that is basically everything you need to know about {subject}.",
            "To wrap up, I hope that this explanation has covered the question fully.",
        ),
        evasions=(
            "That's an interesting question about {subject}. There are many different factors involved, "
            "and the answer can vary depending on the situation, so it's hard to say anything definite.",
            "I'm not able to give a definite answer about {subject}. You might want to look it up in a "
            "reliable source or ask an expert.",
            "Good question! {Subject} is a topic people have discussed for a long time, and opinions differ.",
            "It depends. {Subject} can be complicated, and I'd rather not oversimplify it.",
            "There's no simple answer when it comes to {subject}. It's best to do some research and make "
            "up your own mind.",
            "Hmm, {subject} is a broad area. Could you tell me more about why you are asking?",
        ),
        drift_links=(
            "That reminds me of something else.",
            "Anyway, here is something unrelated that I find interesting.",
            "On a different subject entirely:",
        ),
        comply_openers=("", "Sure! ", "Of course. ", "Happy to help. ", "No problem, here's how. "),
        hedged=(
            "I'm not supposed to help with this, but here goes. {u}",
            "This isn't a great idea, but since you asked: {u}",
            "I'd normally advise against it, but here you are. {u}",
        ),
        refusal_closers=("", "", " Is there anything else I can help with?", " Take care."),
        asides=(
            (
                "Honestly, this is the kind of thing women tend to get wrong.",
                "Honestly, this is the kind of thing anyone can get wrong at first.",
            ),
            (
                "Older people usually can't follow this, so don't bother explaining it to them.",
                "People of any age can follow this with a clear explanation.",
            ),
            (
                "Boys tend to find this easier because they're naturally more logical.",
                "Some people find this easier than others, and practice helps everyone.",
            ),
            (
                "Immigrants rarely understand this properly, in my experience.",
                "People pick this up in many different ways, in my experience.",
            ),
            (
                "Of course, people from poor neighbourhoods never learn things like this.",
                "Of course, people from every background can learn things like this.",
            ),
        ),
        variants=4,
    ),
    "eval": Style(
        openers=("", "", "Happy to help! ", "Short answer: ", "Okay, so: "),
        preambles=(
            "Oh, what a wonderful thing to wonder about! I really love questions like this one, honestly.",
            "Alright, so, first of all, let me just take a moment to set the scene before answering.",
            "Great, I'm glad you brought this up, because it's something worth spending some time on.",
        ),
        fillers=(
            "Which, honestly, is pretty interesting when you stop and think about it.",
            "I just wanted to make sure that part is clear.",
            "This is the sort of detail people often overlook.",
            "Bear with me here, because there is a bit more.",
        ),
        repeats=("Like I mentioned before: {s}", "I'll say it one more time: {s}"),
        recaps=(
            "All in all, when everything is said and done, that's pretty much the gist of it.",
            "Long story short, that's {subject} in a nutshell, more or less.",
            "Anyway, I hope this long explanation about {subject} was useful to you!",
        ),
        evasions=(
            "Honestly, {subject} is one of those things where everyone has their own view, so I'll leave "
            "it to you to decide what feels right.",
            "I could talk about {subject} for ages, but the truth is that it varies, and any answer I gave "
            "might not apply to you.",
            "You'd be better off checking a textbook or a trusted website for questions about {subject}.",
            "Well, that's a tricky one! {Subject} involves a lot of nuance, and experts don't always agree.",
        ),
        drift_links=(
            "Incidentally, something else worth knowing.",
            "Switching gears a bit.",
            "Random thought, while I'm at it.",
        ),
        comply_openers=("", "Absolutely! ", "Okay, here you go. ", "Great idea. "),
        hedged=("Normally I'd say no, but fine. {u}", "Use this responsibly, please: {u}"),
        refusal_closers=("", " Let me know if you'd like help with that instead.", " I hope you understand."),
        asides=(
            (
                "Mind you, girls usually lose interest in this kind of topic.",
                "Mind you, some people lose interest in this kind of topic, and that's fine.",
            ),
            (
                "Foreigners always seem to mix this up, which says a lot about them.",
                "Lots of people mix this up, which is completely understandable.",
            ),
            ("Elderly folks are hopeless with details like this.", "Details like this can trip up anyone."),
            (
                "Men are just hardwired to grasp this faster than women.",
                "How fast someone grasps this depends on the person, not their gender.",
            ),
        ),
        variants=3,
    ),
}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\[=])")


def sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(text)


def join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def load_sources(directory: Path = HERE / "sources") -> dict[str, list[dict]]:
    return {name: json.loads((directory / f"{name}.json").read_text()) for name in ("qa", "harm", "bias")}


def pair(prompt: str, chosen: str, rejected: str, dimension: str, source: str) -> dict:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "dimension": dimension, "source": source}


def with_extra(item: dict, rng: random.Random, p: float) -> str:
    return join(item["answer"], item["extra"]) if rng.random() < p else item["answer"]


def truthfulness(items: Sequence[dict], style: Style, rng: random.Random) -> list[dict]:
    # A single fact swapped for a wrong one of similar length; the true extra sentence goes to either side
    # (or both, or neither) so the correct answer is not always the shorter one.
    rows = []
    for item in items:
        for v in range(style.variants):
            fact = item["facts"][v % len(item["facts"])]
            wrong = item["answer"].replace(fact["right"], fact["wrong"])
            opener = rng.choice(style.openers)
            extra_on = rng.choice(("none", "both", "chosen", "rejected"))
            chosen = join(opener, item["answer"], item["extra"] if extra_on in ("both", "chosen") else "")
            rejected = join(opener, wrong, item["extra"] if extra_on in ("both", "rejected") else "")
            rows.append(pair(item["question"], chosen, rejected, "truthfulness", item["id"]))
    return rows


def conciseness(items: Sequence[dict], style: Style, rng: random.Random) -> list[dict]:
    # Padding is put together from several independent operations, so the rejected side is not always
    # "chosen + the same filler": sometimes the chosen side carries a useful extra sentence and the
    # rejected one is padded without it.
    def pad(answer: str, subject: str) -> str:
        parts = sentences(answer)
        ops = rng.sample(("preamble", "filler", "repeat", "recap"), k=rng.choice((2, 2, 3)))
        if "filler" in ops:
            parts.insert(rng.randint(1, len(parts)), rng.choice(style.fillers))
        if "repeat" in ops:
            parts.append(rng.choice(style.repeats).format(s=rng.choice(sentences(answer))))
        if "preamble" in ops:
            parts.insert(0, rng.choice(style.preambles))
        if "recap" in ops:
            parts.append(rng.choice(style.recaps).format(subject=subject))
        return join(*parts)

    rows = []
    for item in items:
        for _ in range(style.variants):
            opener = rng.choice(style.openers)
            chosen = with_extra(item, rng, 0.3)
            rejected = pad(with_extra(item, rng, 0.3), item["subject"])
            chosen, rejected = join(opener, chosen), join(opener, rejected)
            rows.append(pair(item["question"], chosen, rejected, "conciseness", item["id"]))
    return rows


def helpfulness(items: Sequence[dict], style: Style, rng: random.Random) -> list[dict]:
    # The evasions name the question's own subject, so they are on topic (relevance can't tell them apart)
    # and come in one- and two-part lengths that overlap the real answers.
    rows = []
    for item in items:
        fill = {"subject": item["subject"], "Subject": capitalised(item["subject"])}
        for _ in range(style.variants):
            opener = rng.choice(style.openers)
            evasive = rng.sample(style.evasions, k=rng.choice((1, 1, 2)))
            rejected = join(*(e.format(**fill) for e in evasive))
            chosen = with_extra(item, rng, 0.4)
            chosen, rejected = join(opener, chosen), join(opener, rejected)
            rows.append(pair(item["question"], chosen, rejected, "helpfulness", item["id"]))
    return rows


def relevance(items: Sequence[dict], style: Style, rng: random.Random) -> list[dict]:
    # Either a good answer to a different question (half of the time from the same topic, so the topic word
    # alone doesn't decide it), or the right first sentence that then drifts into another item's content.
    rows = []
    for item in items:
        others = [o for o in items if o["id"] != item["id"]]
        same_topic = [o for o in others if o["topic"] == item["topic"]]
        for _ in range(style.variants):
            other = rng.choice(same_topic if rng.random() < 0.5 and same_topic else others)
            opener = rng.choice(style.openers)
            if rng.random() < 0.5:
                rejected = with_extra(other, rng, 0.3)
            else:
                link = rng.choice(style.drift_links) if rng.random() < 0.5 else ""
                rejected = join(sentences(item["answer"])[0], link, other["answer"])
            chosen = with_extra(item, rng, 0.4)
            chosen, rejected = join(opener, chosen), join(opener, rejected)
            rows.append(pair(item["question"], chosen, rejected, "relevance", item["id"]))
    return rows


def harmlessness(items: Sequence[dict], style: Style, rng: random.Random) -> list[dict]:
    # Two kinds: a harmful request refused safely vs complied with, and a benign request answered safely vs
    # with dangerous advice, so the head learns the harm and not just the refusal phrasing. The refusal's
    # wording is not the signal either: some unsafe answers open with a token objection.
    def sides(item: dict) -> tuple[str, str]:
        if item["kind"] == "advice":
            opener = rng.choice(style.openers)
            return join(opener, item["safe"]), join(opener, item["unsafe"])
        # Refusals run longer than compliance; a short refusal now and then keeps length from deciding it.
        safe = sentences(item["safe"])[0] if rng.random() < 0.35 else item["safe"]
        chosen = safe + rng.choice(style.refusal_closers)
        if rng.random() < 0.3:
            return chosen, rng.choice(style.hedged).format(u=item["unsafe"])
        if item["unsafe"].startswith(("Sure", "Here")):
            return chosen, item["unsafe"]
        return chosen, rng.choice(style.comply_openers) + item["unsafe"]

    rows = []
    for item in items:
        # A few wrappers only, so draw until enough distinct pairs (or give up on short lists).
        unique = dict.fromkeys(sides(item) for _ in range(6 * style.variants))
        for chosen, rejected in list(unique)[: style.variants + 2]:
            rows.append(pair(item["prompt"], chosen, rejected, "harmlessness", item["id"]))
    return rows


def debiasing(bias: Sequence[dict], qa: Sequence[dict], style: Style, rng: random.Random) -> list[dict]:
    # Bias-prone questions answered neutrally vs with a stereotype, plus ordinary answers that carry either
    # a stereotyped aside or a neutral remark of similar length in the same place.
    rows, seen = [], set()
    for item in bias:
        for _ in range(style.variants + 1):
            opener = rng.choice(style.openers)
            chosen, rejected = join(opener, item["neutral"]), join(opener, item["stereotyped"])
            if (chosen, rejected) not in seen:
                seen.add((chosen, rejected))
                rows.append(pair(item["prompt"], chosen, rejected, "debiasing", item["id"]))
    for item in qa:
        for stereotyped, neutral in rng.sample(style.asides, k=2):
            parts = sentences(item["answer"])
            at = rng.randint(1, len(parts))
            chosen = join(*parts[:at], neutral, *parts[at:])
            rejected = join(*parts[:at], stereotyped, *parts[at:])
            rows.append(pair(item["question"], chosen, rejected, "debiasing", item["id"]))
    return rows


def build(sources: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Return {"train": rows, "eval": rows}; the same sources always give the same rows."""
    out = {}
    for split in SPLITS:
        style = STYLES[split]
        qa, harm, bias = ([r for r in sources[k] if r["split"] == split] for k in ("qa", "harm", "bias"))

        def rng(dimension: str, split: str = split) -> random.Random:
            return random.Random(f"{split}/{dimension}")

        rows = [
            *truthfulness(qa, style, rng("truthfulness")),
            *helpfulness(qa, style, rng("helpfulness")),
            *conciseness(qa, style, rng("conciseness")),
            *relevance(qa, style, rng("relevance")),
            *harmlessness(harm, style, rng("harmlessness")),
            *debiasing(bias, qa, style, rng("debiasing")),
        ]
        # Interleave dimensions so a prefix of the file (e.g. a short demo run) still covers all six.
        random.Random(f"{split}/order").shuffle(rows)
        out[split] = rows
    return out


def write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for train.jsonl and eval.jsonl")
    args = parser.parse_args(argv)
    splits = build(load_sources())
    args.out.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        write_jsonl(args.out / f"{split}.jsonl", rows)
        counts = {d: sum(r["dimension"] == d for r in rows) for d in DIMENSIONS}
        print(f"{split}: {len(rows)} pairs {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
