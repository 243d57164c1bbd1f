"""`align run --nproc N`: the same command under `accelerate launch`, N processes on this machine.

accelerate's multi-process launcher is torchrun (`torch.distributed.run`); it starts N ranks whether or not
there is a GPU. Its `--cpu` flag does not: it runs the script once, in one process, with no rank set, so a
CPU run would look distributed and train alone. Each rank then finds its backend through PartialState: NCCL
with a GPU each (cuda:LOCAL_RANK), gloo on CPU.
"""

from __future__ import annotations

import socket

from align.runtime.console import error_line
from align.runtime.errors import EXIT_USER_ERROR


def without_nproc(argv: list[str]) -> list[str]:
    """The command line each rank runs: the user's, minus `--nproc N` (a rank must not launch again)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_args(nproc: int, align_argv: list[str]) -> list[str]:
    """`accelerate launch` arguments that start `nproc` ranks of `python -m align <argv>`."""
    return [
        "--multi_gpu",  # accelerate's name for its torchrun launcher; on CPU the ranks use gloo
        "--num_processes",
        str(nproc),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",  # precision is the recipe's (`precision:`), set per stage through the trainers' configs
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        "-m",
        "align",
        *without_nproc(align_argv),
    ]


def relaunch(nproc: int, align_argv: list[str]) -> int:
    """Run `align <argv>` as `nproc` ranks; 2 when every failed rank stopped on a user error (already printed)."""
    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        launch_command(launch_command_parser().parse_args(launch_args(nproc, align_argv)))
    except ChildFailedError as failed:
        # The ranks printed their own `error:` lines; the launcher's traceback would only bury them.
        codes = {rank: failure.exitcode for rank, failure in sorted(failed.failures.items())}
        if set(codes.values()) == {EXIT_USER_ERROR}:
            return EXIT_USER_ERROR
        error_line(
            "rank "
            + ", ".join(f"{rank} exited with {code}" for rank, code in codes.items())
            + "; the others were stopped. Re-run the same command to resume"
        )
        return 1
    return 0
