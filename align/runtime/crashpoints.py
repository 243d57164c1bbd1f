"""Named points where a test can kill a real run, to prove that a re-run resumes from anywhere.

`ALIGN_CRASH_AT=<point>` makes the process send SIGKILL to its whole process group the first time it reaches
that point — the same as `kill -9 -<pgid>` from outside, but at an exact place instead of after a guessed delay,
so the resume tests do not depend on machine speed. Points: `<stage>:checkpoint` (a Trainer or reward-model
checkpoint was just written), `<stage>:step` (an optimiser step just ended, before any checkpoint of it),
`<stage>:batch` (pair building stored a batch of prompts), `<stage>:selection` (GRPO saved its prompt
selection), `eval:suite` (evaluation stored one policy's result on one suite), `write:<folder>/<file>` (a JSON
or text artifact is half written: its temporary file exists, the rename has not happened).

`<point>@<n>` waits for the n-th time the point is reached (a seeded random n kills "at a random moment" that
is still the same moment on every machine). `ALIGN_CRASH_RANK=<r>` makes only rank r die, and only that one
process (kill -9 of one rank of `--nproc`). Unset, every call is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "ALIGN_CRASH_AT"
RANK_ENV = "ALIGN_CRASH_RANK"
_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if wanted is None or wanted.split("@")[0] != name:
        return
    rank = os.environ.get(RANK_ENV)
    if rank is not None and os.environ.get("RANK", "0") != rank:
        return
    _reached[name] += 1
    if _reached[name] < int(wanted.partition("@")[2] or 1):
        return
    if rank is not None:
        os.kill(os.getpid(), signal.SIGKILL)
    os.killpg(os.getpgrp(), signal.SIGKILL)
