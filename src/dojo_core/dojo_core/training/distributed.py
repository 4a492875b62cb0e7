"""Single-process or DistributedDataParallel, decided by the environment `torchrun` sets.

`torchrun --nproc_per_node N ...` exports WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT; with WORLD_SIZE > 1 the process group is created here (NCCL on CUDA, gloo on CPU),
so the same training code runs under plain `python` and under torchrun.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Only the main process writes files, logs and shows progress."""
        return self.rank == 0

    def all_gather(self, obj: Any) -> list[Any]:
        """`obj` of every rank, in rank order (a one-element list without DDP)."""
        if self.world_size == 1:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """'auto' -> cuda:LOCAL_RANK if CUDA is available else cpu; 'cuda' -> cuda:LOCAL_RANK."""
    if requested == 'auto':
        requested = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(requested)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError(f'device {requested!r} requested but CUDA is not available')
        if device.index is None:
            device = torch.device('cuda', local_rank)
        torch.cuda.set_device(device)
    return device


@contextmanager
def distributed(requested_device: str) -> Iterator[DistContext]:
    """The process's rank and device; joins (and later leaves) the process group under torchrun."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = resolve_device(requested_device, local_rank)
    created = world_size > 1 and not dist.is_initialized()
    if created:
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    try:
        yield DistContext(rank, world_size, local_rank, device)
    finally:
        if created:
            dist.destroy_process_group()
