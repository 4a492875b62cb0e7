"""What the training loop needs from a policy (`Trainable`), and the recipe each policy brings (`TrainingPreset`).

`dojo_core.training.train` knows no policy by name: it asks the policy for its loss on a batch
(`policy(batch)`), its optimizers and learning-rate schedulers (any number), an optional
exponential moving average of its weights, and to save itself. `Policy` implements all of it
with one AdamW (vision backbone in its own group), linear warm-up then constant or cosine
decay, and `torch.optim.swa_utils.AveragedModel` for the EMA; a policy type overrides what its
method needs (e.g. a separate critic optimizer). One `backward` of the returned loss feeds every
optimizer, and all of them step every step, so a multi-part method returns the sum of its parts
with the detaching it needs.

The recipe lives with the policy: `PolicyConfig.training_preset()` gives steps, batch size,
learning rates, weight decay, gradient clipping, schedule and EMA decay; `TrainConfig` fields left
at None take these values.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

if TYPE_CHECKING:
    from dojo_core.policies.config import PolicyConfig

SCHEDULERS = ('constant', 'cosine')
BACKBONE = 'backbone'  # parameters inside a module of this name form the backbone group


@dataclass(frozen=True)
class TrainingPreset:
    """A policy's training recipe (one per preset), and the resolved settings a run trains with."""

    steps: int
    batch_size: int
    lr: float
    backbone_lr: float | None = None  # None = lr
    weight_decay: float = 0.0
    grad_clip_norm: float | None = None  # None = no clipping
    scheduler: str = 'constant'  # after warm-up: one of SCHEDULERS
    warmup_steps: int = 0
    ema_decay: float | None = None  # None = no EMA; else the served weights are the EMA's

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f'scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}')
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f'ema_decay must be in (0, 1), got {self.ema_decay}')


@runtime_checkable
class Trainable(Protocol):
    """A torch module the loop can train (every `Policy` is one); see the module docstring."""

    config: PolicyConfig

    def __call__(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss on a dataset batch (unnormalised, with the config's windows) and named detached parts."""

    def make_optimizers(self, preset: TrainingPreset) -> list[Optimizer]:
        """The optimizers over the trainable parameters (frozen ones left out)."""

    def make_schedulers(self, optimizers: Sequence[Optimizer], preset: TrainingPreset) -> list[LRScheduler]:
        """Learning-rate schedulers, stepped once per training step."""

    def make_ema(self, preset: TrainingPreset) -> AveragedModel | None:
        """An average of the weights (updated after every step), or None."""

    def save_pretrained(self, directory: str | Path) -> Path:
        """A loadable checkpoint (`load_policy`) in `directory`."""


def adamw(module: nn.Module, preset: TrainingPreset) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; those inside a module named `backbone` train at `backbone_lr`."""
    main, backbone = [], []
    for name, param in module.named_parameters():
        if param.requires_grad:
            (backbone if BACKBONE in name.split('.') else main).append(param)
    groups: list[dict[str, Any]] = [{'params': main, 'lr': preset.lr}]
    if backbone:
        groups.append({'params': backbone, 'lr': preset.lr if preset.backbone_lr is None else preset.backbone_lr})
    return torch.optim.AdamW(groups, lr=preset.lr, weight_decay=preset.weight_decay)


def warmup_schedule(optimizer: Optimizer, preset: TrainingPreset) -> LambdaLR:
    """Linear warm-up over `warmup_steps`, then constant or cosine decay to zero at `steps`."""
    def factor(step: int) -> float:
        if step < preset.warmup_steps:
            return (step + 1) / preset.warmup_steps
        if preset.scheduler == 'constant':
            return 1.0
        progress = (step - preset.warmup_steps) / max(1, preset.steps - preset.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return LambdaLR(optimizer, factor)


def ema(module: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of `module`'s weights and buffers (a copy, updated by `update_parameters`)."""
    return AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
