"""Named points where a test can kill a real run, to prove that a re-run resumes from anywhere.

`ALIGN_CRASH_AT=<point>` makes the process send SIGKILL to its whole process group the first time it reaches
that point — the same as `kill -9 -<pgid>` from outside, but at an exact place instead of after a guessed delay,
so the resume tests do not depend on machine speed. Points: `<stage>:checkpoint` (a Trainer or reward-model
checkpoint was just written), `<stage>:batch` (pair building stored a batch of prompts), `<stage>:selection`
(GRPO saved its prompt selection), `eval:suite` (evaluation stored one policy's result on one suite),
`write:<folder>/<file>` (a JSON or text artifact is half written: its temporary file
exists, the rename has not happened). Unset, every call is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal

ENV = "ALIGN_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)
