"""Running a command as the ranks of an existing launcher (``torchrun``, ``accelerate launch``; one machine or many).

``augment`` and ``evaluate`` use it the same way: each rank does its share of the questions, then
:func:`gather_to_first` hands every rank's part to rank 0, which merges and saves, and :func:`leave_launcher`
keeps the other ranks (and their resume journals) until rank 0 has saved.
"""

from __future__ import annotations

import datetime
import os


def launcher_rank() -> tuple[int, int]:
    """``(rank, world size)`` under ``torchrun`` or ``accelerate launch`` (from the RANK and WORLD_SIZE they
    set, on one machine or many), ``(0, 1)`` otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def join_launcher() -> None:
    """Join the launcher's process group (gloo: CPU only, any number of machines). Ranks wait for each
    other only at :func:`gather_to_first`, possibly hours apart: the timeout is a week."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=datetime.timedelta(days=7))


def gather_to_first(value):
    """Every rank's ``value`` (picklable) as a list on rank 0, in rank order; ``None`` on the other ranks."""
    import torch.distributed as dist

    rank, world = launcher_rank()
    gathered = [None] * world if rank == 0 else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def leave_launcher() -> None:
    """Wait until every rank is here (rank 0: its output saved), then leave the process group."""
    import torch.distributed as dist

    dist.barrier()
    dist.destroy_process_group()
