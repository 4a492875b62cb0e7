"""Data order that can restart mid-epoch, so a resumed run sees exactly the batches it would have seen."""
from __future__ import annotations

import itertools
from collections.abc import Iterator, Sized

from torch.utils.data import DistributedSampler


class ResumableSampler(DistributedSampler):
    """DistributedSampler (shuffled per epoch from seed + epoch, this rank's share) that starts at an offset.

    Used with world_size 1 too, so single-process and DDP runs share one code path. The tail of
    the permutation that does not divide evenly among ranks is dropped.
    """

    def __init__(self, dataset: Sized, *, world_size: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Iterate epoch `epoch`, skipping the first `start` indices of this rank."""
        self.set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return self.num_samples - self.start
