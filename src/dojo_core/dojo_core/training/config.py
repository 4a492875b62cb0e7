"""Training-run settings. The policy brings its own recipe (`PolicyConfig.training_preset()`); every
field left at None here takes the preset's value, and the run saves the resolved settings."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from dojo_core.policies.trainable import SCHEDULERS, TrainingPreset

MAX_DEFAULT_WORKERS = 8


def default_num_workers() -> int:
    """The CPUs this process may use, shared among the torchrun processes of this machine (at most 8)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cpus // int(os.environ.get('LOCAL_WORLD_SIZE', '1'))))


@dataclass
class TrainConfig:
    """Run settings; None = the policy preset's value (see TrainingPreset)."""

    steps: int | None = field(default=None, metadata={
        'description': "Optimiser steps in total (a resumed run continues up to this count); default: the "
                       "policy preset's.", 'range': (1, 10**9)})
    batch_size: int | None = field(default=None, metadata={
        'description': "Samples per step and per process; default: the policy preset's.", 'range': (1, 65536)})
    seed: int = field(default=1000, metadata={'description': 'Seeds torch, numpy and random (plus the rank '
                                                             'under DDP) and the data order.'})
    device: str = field(default='auto', metadata={'description': 'cpu, cuda, cuda:N or auto (cuda when '
                                                                 'available); under torchrun, cuda:LOCAL_RANK.'})
    num_workers: int = field(default_factory=default_num_workers, metadata={
        'description': "DataLoader worker processes (0 = load in the training process); default: this machine's "
                       'CPUs over its torchrun processes, at most 8.', 'range': (0, 256)})
    lr: float | None = field(default=None, metadata={'description': 'Learning rate; None = the policy preset.'})
    backbone_lr: float | None = field(default=None, metadata={
        'description': 'Learning rate of the vision backbone; None = the policy preset.'})
    weight_decay: float | None = field(default=None, metadata={
        'description': 'Weight decay; None = the policy preset.'})
    grad_clip_norm: float | None = field(default=None, metadata={
        'description': 'Clip the gradient norm to this; None = the policy preset.'})
    scheduler: str | None = field(default=None, metadata={
        'description': f'Learning-rate schedule after warm-up, one of {SCHEDULERS}; None = the policy preset.'})
    warmup_steps: int | None = field(default=None, metadata={
        'description': 'Linear warm-up steps; None = the policy preset.', 'range': (0, 10**9)})
    save_every: int = field(default=20_000, metadata={'description': 'Checkpoint period in steps (the last '
                                                                     'step is always saved).', 'range': (1, 10**9)})
    log_every: int = field(default=100, metadata={'description': 'Progress-bar and log-message period in steps '
                                                                 '(loss.csv gets every step).', 'range': (1, 10**9)})
    time_limit_s: float | None = field(default=None, metadata={
        'description': 'Wall-clock budget of the training loop in seconds (the elapsed_s of loss.csv, which counts '
                       'across resumes); when it is spent the loop saves its checkpoint and stops before `steps` '
                       '(after at least one step). None or 0 = no limit.', 'range': (0.0, 10**9)})
    progress: bool = field(default=True, metadata={'description': 'Show a tqdm progress bar (rank 0).'})
    cache_frames: bool = field(default=True, metadata={
        'description': 'When the policy resizes its images (a preset for small images), decode the camera frames of '
                       'the training episodes once into <out>/frame_cache/ at that size and train from there '
                       'instead of decoding video at every step.'})

    def __post_init__(self) -> None:
        if self.scheduler is not None and self.scheduler not in SCHEDULERS:
            raise ValueError(f'scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}')
        if any(v is not None and v < 1 for v in (self.steps, self.batch_size)) or self.save_every < 1 \
                or self.log_every < 1:
            raise ValueError('steps, batch_size, save_every and log_every must be positive')
        if self.time_limit_s is not None and self.time_limit_s < 0:
            raise ValueError(f'time_limit_s must be >= 0 (0 or None = no limit), got {self.time_limit_s}')

    def preset(self, policy_preset: TrainingPreset) -> TrainingPreset:
        """The policy's recipe with the settings given here in place of its own."""
        given = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainingPreset)
                 if getattr(self, f.name, None) is not None}
        return dataclasses.replace(policy_preset, **given)

    def resolved(self, preset: TrainingPreset) -> TrainConfig:
        """These settings with every None filled from `preset` (what a run saves, so that it resumes alike)."""
        return dataclasses.replace(self, **{f.name: getattr(preset, f.name) for f in dataclasses.fields(self)
                                            if hasattr(preset, f.name) and getattr(self, f.name) is None})
