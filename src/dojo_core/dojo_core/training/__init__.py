"""Training policies on LeRobot-style datasets: `train(TrainConfig, dataset, out_dir, policy_config, stats)`.

Trains any `Trainable` (dojo_core.policies.trainable, re-exported here) with the recipe its config
declares. Plain `python` trains on one device; `torchrun --nproc-per-node N` runs the same code
with DistributedDataParallel, on one machine or several. See loop.py for the run layout
(checkpoints, loss.csv, loss.png).
"""
from dojo_core.policies.trainable import Trainable, TrainingPreset
from dojo_core.training.checkpoint import (CHECKPOINTS_DIR, LAST, PRETRAINED_DIR, TRAINING_STATE, last_checkpoint)
from dojo_core.training.config import TrainConfig
from dojo_core.training.loop import LOSS_CSV, LOSS_PNG, TrainResult, train
from dojo_core.training.rng import seed_everything

__all__ = ['CHECKPOINTS_DIR', 'LAST', 'LOSS_CSV', 'LOSS_PNG', 'PRETRAINED_DIR', 'TRAINING_STATE', 'TrainConfig',
           'Trainable', 'TrainResult', 'TrainingPreset', 'last_checkpoint', 'seed_everything', 'train']
