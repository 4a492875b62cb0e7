"""`dojo train`: train a policy on a LeRobot dataset, on CPU, one GPU or (under torchrun) several.

    dojo train --dataset ~/data/pick --policy TYPE --preset cpu --out runs/pick --episodes 0:45
    dojo train --out runs/pick --resume --steps 200000        # continue, up to 200k steps
    torchrun --nproc-per-node 4 -m dojo_core.cli train --dataset ... --policy TYPE --out ...

`--policy` is any type of the `dojo.policies` entry-point group, `--preset` one of its presets and
`--policy-option NAME=VALUE` sets a field of its config (VALUE read as YAML: 20, 0.5, [96, 128],
null). Options left out take the policy preset's and TrainConfig's defaults, or on --resume the
values the run was saved with, so that a resumed run continues exactly as it started.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from typing import Any

import yaml

from dojo_core.dataset import DatasetError
from dojo_core.policies import policy_types
from dojo_core.policies.config import DEFAULT_PRESET
from dojo_core.policies.trainable import SCHEDULERS
from dojo_core.training.checkpoint import PRETRAINED_DIR
from dojo_core.training.config import TrainConfig
from dojo_core.training.run import DATASET_RECORD, FRAME_CACHE_DIR, resumed_train_config, run_training

# TrainConfig fields settable from the command line (option --batch-size sets batch_size, ...)
TRAIN_OPTIONS = ('steps', 'batch_size', 'device', 'num_workers', 'seed', 'save_every', 'log_every', 'lr',
                 'backbone_lr', 'scheduler', 'warmup_steps')


def parse_episodes(text: str) -> list[int]:
    """'0:45' -> [0, ..., 44]; '0:45,47,50:52' -> [0, ..., 44, 47, 50, 51] (ranges end-exclusive, as LeRobot splits)."""
    episodes: list[int] = []
    try:
        for part in text.split(','):
            if ':' in part:
                start, stop = (int(s) for s in part.split(':'))
                if stop <= start:
                    raise ValueError(part)
                episodes += range(start, stop)
            else:
                episodes.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f'episodes must be like 0:45 or 0:45,47 (start:stop, stop excluded), '
                                         f'got {text!r}') from None
    if min(episodes) < 0 or len(set(episodes)) != len(episodes):
        raise argparse.ArgumentTypeError(f'episodes must be distinct and >= 0, got {text!r}')
    return episodes


def parse_policy_option(text: str) -> tuple[str, Any]:
    """'n_action_steps=20' -> ('n_action_steps', 20); the value is read as YAML (numbers, lists, null, strings)."""
    name, sep, value = text.partition('=')
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f'policy options are NAME=VALUE, e.g. n_action_steps=20, got {text!r}')
    return name, yaml.safe_load(value)


class TrainVerb:
    help = 'Train a policy on a LeRobot dataset; checkpoints, loss curve, resume, DDP under torchrun.'

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        fields = {f.name: f for f in dataclasses.fields(TrainConfig)}

        def train_option(name: str, **kwargs: Any) -> None:
            parser.add_argument('--' + name.replace('_', '-'), dest=name, default=None,
                                help=fields[name].metadata['description'], **kwargs)

        parser.add_argument('--dataset', default=None, help='dataset root (the folder holding meta/info.json); '
                            'with --resume, defaults to the dataset the run was started on')
        parser.add_argument('--out', required=True, help='run directory: checkpoints/, loss.csv, loss.png, '
                            f'{DATASET_RECORD}, {FRAME_CACHE_DIR}/')
        parser.add_argument('--policy', default=None, choices=policy_types(),
                            help='policy type (a new run needs one; packages add types through the dojo.policies '
                                 'entry-point group)')
        parser.add_argument('--preset', default=DEFAULT_PRESET,
                            help="one of the policy's presets (its config classmethods; 'default' = the config's "
                                 "defaults, 'tiny' = seconds-scale, for smoke tests; a wrong name lists them)")
        parser.add_argument('--episodes', type=parse_episodes, default=None,
                            help='training episodes, e.g. 0:45 (default: all); keep the rest for evaluation')
        parser.add_argument('--policy-option', dest='policy_options', type=parse_policy_option, action='append',
                            default=[], metavar='NAME=VALUE',
                            help="set a field of the policy's config over the preset's (repeatable), e.g. "
                                 'n_action_steps=20')
        parser.add_argument('--resume', action='store_true', help='continue the run in --out from checkpoints/last')
        parser.add_argument('--no-progress', dest='progress', action='store_false', default=None,
                            help='log every --log-every steps instead of showing a progress bar')
        parser.add_argument('--no-frame-cache', dest='cache_frames', action='store_false', default=None,
                            help="decode video at every step instead of caching resized frames in the run's "
                                 'frame_cache/ (only used when the policy resizes its images)')
        train_option('steps', type=int)
        train_option('batch_size', type=int)
        train_option('device')
        train_option('num_workers', type=int)
        train_option('seed', type=int)
        train_option('save_every', type=int)
        train_option('log_every', type=int)
        train_option('lr', type=float)
        train_option('backbone_lr', type=float)
        train_option('scheduler', choices=SCHEDULERS)
        train_option('warmup_steps', type=int)

    def main(self, args: argparse.Namespace) -> int:
        main_process = int(os.environ.get('RANK', '0')) == 0
        if main_process:
            logging.basicConfig(level=logging.INFO, format='%(message)s')
        given = {name: getattr(args, name) for name in (*TRAIN_OPTIONS, 'progress', 'cache_frames')
                 if getattr(args, name) is not None}
        overrides = dict(args.policy_options)
        try:
            config = resumed_train_config(args.out, **given) if args.resume else TrainConfig(**given)
            result = run_training(args.dataset, args.out, policy=args.policy, preset=args.preset,
                                  train_config=config, episodes=args.episodes, resume=args.resume,
                                  policy_overrides=overrides)
        except (DatasetError, FileExistsError, FileNotFoundError, KeyError, ValueError) as exc:
            print(f'dojo train: {exc}', file=sys.stderr)
            return 1
        if main_process:
            parameters = sum(p.numel() for p in result.policy.parameters())
            print(f'trained {result.policy.config.type} ({parameters / 1e6:.2f} M parameters) to step {result.step}, '
                  f'last loss {result.loss:.4f}')
            print(f'loss curve: {result.loss_csv} and {result.loss_png}')
            print(f'checkpoint: {result.checkpoint / PRETRAINED_DIR}')
        return 0
