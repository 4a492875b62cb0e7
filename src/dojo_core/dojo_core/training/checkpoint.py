"""Training checkpoints: a loadable policy plus everything needed to continue exactly.

    <out_dir>/checkpoints/<step:06d>/pretrained_model/   config.json, model.safetensors (load_policy)
    <out_dir>/checkpoints/<step:06d>/training_state.pt   step, optimizers, schedulers, EMA (and then the raw
                                                         weights), RNG of every rank
    <out_dir>/checkpoints/<step:06d>/train_config.json   the TrainConfig of the run, the preset filled in
    <out_dir>/checkpoints/last -> <step:06d>             (relative symlink, replaced atomically)

A checkpoint is written into a temporary directory and renamed into place, so `last` never points
at a half-written checkpoint if the run dies while saving.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from dojo_core.policies import Trainable
from dojo_core.training.config import TrainConfig

CHECKPOINTS_DIR = 'checkpoints'
LAST = 'last'
PRETRAINED_DIR = 'pretrained_model'
TRAINING_STATE = 'training_state.pt'
TRAIN_CONFIG = 'train_config.json'


def save_checkpoint(out_dir: Path, step: int, policy: Trainable, training_state: dict[str, Any],
                    config: TrainConfig) -> Path:
    """Write checkpoint `step` and point `last` at it; returns its directory."""
    root = out_dir / CHECKPOINTS_DIR
    final = root / f'{step:06d}'
    partial = root / f'.{step:06d}.partial'
    shutil.rmtree(partial, ignore_errors=True)
    policy.save_pretrained(partial / PRETRAINED_DIR)
    torch.save({'step': step, **training_state}, partial / TRAINING_STATE)
    (partial / TRAIN_CONFIG).write_text(json.dumps(dataclasses.asdict(config), indent=2) + '\n')
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    link = root / f'.{LAST}.partial'
    link.unlink(missing_ok=True)
    link.symlink_to(final.name)
    os.replace(link, root / LAST)
    return final


def last_checkpoint(out_dir: Path) -> Path:
    path = out_dir / CHECKPOINTS_DIR / LAST
    if not path.exists():
        raise FileNotFoundError(f'nothing to resume: no {CHECKPOINTS_DIR}/{LAST} in {out_dir}')
    return path.resolve()


def load_training_state(checkpoint: Path) -> dict[str, Any]:
    return torch.load(checkpoint / TRAINING_STATE, map_location='cpu', weights_only=True)
