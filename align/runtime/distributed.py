"""Who this process is under `accelerate launch` (or `align run --nproc N`), answered by accelerate's PartialState.

The stages' training is distributed by the TRL trainers themselves; what is left to align is deciding which
process writes files, where all of them wait, and how prompts are split for sampling. Without a launcher
(WORLD_SIZE unset or 1) nothing here touches torch.distributed: every process is the main one, shards are the
whole list and every collective returns its input, so the one-process path does exactly what it did before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from align.runtime.errors import AlignError

T = TypeVar("T")


def launched() -> bool:
    """Started by a launcher (torchrun / accelerate launch) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _state():
    import torch
    from accelerate import PartialState

    # accelerate starts the gloo group on CPU only when told `cpu=True`; without it each torchrun rank would
    # believe it is alone. TrainingArguments(use_cpu=True) asks for the same state later, so the two agree.
    return PartialState(cpu=not torch.cuda.is_available())


def engine_mismatch(cuda: bool | None = None) -> str | None:
    """Why the launcher's engine cannot run here, or None.

    accelerate enables FSDP and DeepSpeed only on GPUs: given such a config on a machine without one, FSDP v1
    raises a traceback inside the first Trainer (after the model has loaded) and FSDP v2 quietly trains every
    rank as plain DDP, full replicas, which the user would only learn from the memory bill on a real cluster.
    """
    import torch

    cuda = torch.cuda.is_available() if cuda is None else cuda
    asked = [name for name, key in ENGINES if os.environ.get(key, "").lower() in ("1", "true")]
    if not launched() or cuda or not asked:
        return None
    return (
        f"the accelerate config asks for {asked[0]}, which accelerate runs only on GPUs; on CPU launch with "
        "recipes/accelerate/ddp.yaml or `align run --nproc N`"
    )


ENGINES = (("FSDP", "ACCELERATE_USE_FSDP"), ("DeepSpeed", "ACCELERATE_USE_DEEPSPEED"))


def world_size() -> int:
    """The processes in the group accelerate joined (not the launcher's word for it): what the manifest records."""
    return _state().num_processes if launched() else 1


def rank() -> int:
    return _state().process_index if launched() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    """Every rank waits here until all have arrived (a stage boundary)."""
    if launched():
        _state().wait_for_everyone()


def finish() -> None:
    """Leave the process group together: a rank that exits while a peer still holds the group open can make
    gloo abort the peer at exit (seen as a SIGABRT of the other rank after a run that otherwise succeeded)."""
    if launched():
        barrier()
        _state().destroy_process_group()


@contextmanager
def main_first() -> Iterator[None]:
    """Each machine's first process runs the block first (e.g. converting the default model into its cache)."""
    if not launched():
        yield
        return
    with _state().local_main_process_first():
        yield


def decide(choose: Callable[[], T]) -> T:
    """`choose()` evaluated on the main process only and its answer given to every rank.

    Used for decisions read from the run folder (skip, resume): ranks that looked for themselves could see the
    folder at different moments and disagree. An error on the main process is raised on every rank, so none is
    left waiting for an answer that will not come.
    """
    if not launched():
        return choose()
    from accelerate.utils import broadcast_object_list

    box: list[Any] = [None]
    failure: Exception | None = None
    if is_main():
        try:
            box[0] = ("ok", choose())
        except Exception as err:  # raised below, on every rank; only its text travels (it may not pickle)
            failure, box[0] = err, ("error", str(err))
    broadcast_object_list(box, from_process=0)
    status, value = box[0]
    if failure is not None:
        raise failure
    if status == "error":
        raise AlignError(value)
    return value


def shard(items: Sequence[T]) -> list[T]:
    """This rank's contiguous slice of `items` (sizes differ by at most one); `gather` restores the order."""
    if not launched():
        return list(items)
    with _state().split_between_processes(list(items)) as mine:
        return list(mine)


def gather(mine: list[T]) -> list[T]:
    """Every rank's `shard` results concatenated in rank order, on every rank: the unsharded order."""
    if not launched():
        return mine
    from accelerate.utils import gather_object

    return list(gather_object(mine))
