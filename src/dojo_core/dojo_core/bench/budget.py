"""Budgets: the scale of machine a leaderboard row was trained and served at.

Methods are compared at equal cost, not equal step counts: a method whose steps are twice as
expensive gets half as many. A budget is therefore a wall-clock training limit with the preset's
step count as a cap (`TrainConfig.time_limit_s`), the device, and how much of the CPU the run may
use, so that `cpu-2core` means the same on a 16-core box as on the 2-core dev machine.
"""
from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from dojo_core.policies.config import DEFAULT_PRESET


@dataclass(frozen=True)
class Budget:
    """What one leaderboard row may spend; `steps`/`batch_size` None = the policy preset's."""

    name: str
    device: str             # torch device for training and serving
    preset: str             # the policy preset used unless the bench names one
    train_minutes: float    # wall-clock limit of the training loop
    threads: int | None     # torch intra-op threads (None = torch's default for this machine)
    num_workers: int | None  # DataLoader workers (None = TrainConfig's default)
    steps: int | None = None
    batch_size: int | None = None

    @property
    def gpu(self) -> bool:
        return torch.device(self.device).type == 'cuda'

    @property
    def time_limit_s(self) -> float:
        return 60.0 * self.train_minutes

    def check_available(self) -> None:
        """Refuse a GPU budget on a machine without CUDA (before any dataset or training work)."""
        if self.gpu and not torch.cuda.is_available():
            raise ValueError(f'budget {self.name!r} trains on {self.device}, but this machine has no CUDA device')

    def hardware(self) -> str:
        """The device in words, for the row: the GPU's name, or the CPU model and the threads used."""
        if self.gpu:
            return f'GPU {torch.cuda.get_device_name(torch.device(self.device))}'
        threads = self.threads or torch.get_num_threads()
        return f'{_cpu_model()} ({threads} threads, {os.cpu_count()} CPUs)'

    def with_overrides(self, **overrides: object) -> Budget:
        """This budget with the given fields replaced (None values keep this budget's)."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})


BUDGETS: dict[str, Budget] = {
    'cpu-2core': Budget('cpu-2core', device='cpu', preset='cpu', train_minutes=45.0, threads=2, num_workers=2),
    'gpu': Budget('gpu', device='cuda', preset=DEFAULT_PRESET, train_minutes=45.0, threads=None, num_workers=None),
}


def budget(name: str) -> Budget:
    if name not in BUDGETS:
        raise ValueError(f'unknown budget {name!r}; known: {sorted(BUDGETS)}')
    return BUDGETS[name]


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch on `threads` intra-op threads inside the block (None: unchanged), restored afterwards."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cpu_model() -> str:
    cpuinfo = Path('/proc/cpuinfo')
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith('model name'):
                return line.partition(':')[2].strip()
    return 'CPU'
