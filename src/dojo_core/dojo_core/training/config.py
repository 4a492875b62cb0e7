"""Training-run settings (the policy's own hyperparameters live in its PolicyConfig)."""
from __future__ import annotations

from dataclasses import dataclass, field

SCHEDULERS = ('constant', 'cosine')


@dataclass
class TrainConfig:
    """Defaults follow LeRobot's ACT recipe: 100k steps of batch 8, checkpoint every 20k."""

    steps: int = field(default=100_000, metadata={'description': 'Optimiser steps in total (a resumed run '
                                                                  'continues up to this count).', 'range': (1, 10**9)})
    batch_size: int = field(default=8, metadata={'description': 'Samples per step and per process.',
                                                 'range': (1, 65536)})
    seed: int = field(default=1000, metadata={'description': 'Seeds torch, numpy and random (plus the rank '
                                                             'under DDP) and the data order.'})
    device: str = field(default='auto', metadata={'description': 'cpu, cuda, cuda:N or auto (cuda when '
                                                                 'available); under torchrun, cuda:LOCAL_RANK.'})
    num_workers: int = field(default=4, metadata={'description': 'DataLoader worker processes (0 = load in '
                                                                 'the training process).', 'range': (0, 256)})
    lr: float | None = field(default=None, metadata={'description': 'Learning rate; None = the policy preset.'})
    backbone_lr: float | None = field(default=None, metadata={
        'description': 'Learning rate of the vision backbone; None = the policy preset.'})
    weight_decay: float | None = field(default=None, metadata={
        'description': 'AdamW weight decay; None = the policy preset.'})
    grad_clip_norm: float | None = field(default=None, metadata={
        'description': 'Clip the gradient norm to this; None = the policy preset.'})
    scheduler: str = field(default='constant', metadata={
        'description': f'Learning-rate schedule after warm-up, one of {SCHEDULERS}.'})
    warmup_steps: int = field(default=0, metadata={'description': 'Linear warm-up steps.', 'range': (0, 10**9)})
    save_every: int = field(default=20_000, metadata={'description': 'Checkpoint period in steps (the last '
                                                                     'step is always saved).', 'range': (1, 10**9)})
    log_every: int = field(default=100, metadata={'description': 'Progress-bar and log-message period in steps '
                                                                 '(loss.csv gets every step).', 'range': (1, 10**9)})
    progress: bool = field(default=True, metadata={'description': 'Show a tqdm progress bar (rank 0).'})
    cache_frames: bool = field(default=True, metadata={
        'description': 'When the policy resizes its images (ACT cpu preset), decode the camera frames of the '
                       'training episodes once into <out>/frame_cache/ at that size and train from there '
                       'instead of decoding video at every step.'})

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f'scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}')
        if self.steps < 1 or self.batch_size < 1 or self.save_every < 1 or self.log_every < 1:
            raise ValueError('steps, batch_size, save_every and log_every must be positive')
