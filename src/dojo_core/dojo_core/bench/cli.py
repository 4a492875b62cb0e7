"""`dojo bench`: the leaderboard, without ROS. Every method trained on the same dataset under the same
wall-clock budget, evaluated through the serving controller on the same held-out seeds.

    dojo bench --dataset outputs/bench/dataset --demos 50                 # every policy type, cpu-2core
    dojo bench --dataset outputs/bench/dataset --methods act --budget gpu  # add a GPU row
    dojo bench --dataset D --methods act --preset tiny --train-minutes 1 --seeds 1001:1011  # a smoke run

The dataset is recorded first (`--demos` scripted-expert episodes, seeds 1..N) when its folder
does not exist. Rows are merged into `--out`/leaderboard.json by (method, preset, budget,
dataset), so other rows stay; leaderboard.md and leaderboard.png are rewritten from all rows.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from dojo_core.bench.budget import BUDGETS, Budget, budget
from dojo_core.bench.leaderboard import update_leaderboard
from dojo_core.bench.run import DEFAULT_RUNS, BenchConfig, bench_row, ensure_dataset, format_seeds
from dojo_core.dataset import DatasetError, LeRobotDatasetReader
from dojo_core.expert.dataset import DEFAULT_FEATURES
from dojo_core.policies import policy_types
from dojo_core.policies.registry import config_class
from dojo_core.sim.protocol import TIME_LIMIT_S
from dojo_core.training.cli import parse_episodes

DEFAULT_SEEDS = '1001:1051'
DEFAULT_OUT = 'docs/results'
MIN_SEEDS = 50   # below this, a success rate's 95 % interval is too wide to rank methods
# budget fields settable from the command line: option --train-minutes sets train_minutes, ...
BUDGET_OPTIONS = ('train_minutes', 'steps', 'batch_size', 'threads', 'num_workers')


def parse_seeds(text: str) -> list[int]:
    """'1001:1051' -> [1001, ..., 1050]; '3,5,10:12' -> [3, 5, 10, 11] (as --episodes of dojo train)."""
    try:
        return parse_episodes(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f'seeds must be like 1001:1051 or 3,5,10:12 (start:stop, stop excluded), '
                                         f'distinct and >= 0, got {text!r}') from None


def parse_methods(text: str) -> list[str]:
    methods = [m for m in text.split(',') if m]
    unknown = sorted(set(methods) - set(policy_types()))
    if not methods or unknown:
        raise argparse.ArgumentTypeError(f'methods are policy types, some of {policy_types()}; got {text!r}')
    return methods


def reproducing_command(args: argparse.Namespace, method: str, preset: str, row_budget: Budget,
                        episodes: int) -> str:
    """The `dojo bench` command line that trains and evaluates this row again, every setting explicit."""
    named = BUDGETS[row_budget.name]
    parts = ['dojo', 'bench', '--dataset', args.dataset, '--demos', str(episodes)]
    if args.feature_map != DEFAULT_FEATURES:
        parts += ['--feature-map', args.feature_map]
    parts += ['--methods', method, '--preset', preset, '--budget', row_budget.name]
    for name in BUDGET_OPTIONS:
        value = getattr(row_budget, name)
        if value != getattr(named, name):
            parts += ['--' + name.replace('_', '-'), f'{value:g}' if isinstance(value, float) else str(value)]
    parts += ['--seeds', format_seeds(args.seeds), '--time-limit', f'{args.time_limit:g}', '--out', args.out,
              '--runs', args.runs]
    return shlex.join(parts)


class BenchVerb:
    help = ('Leaderboard: train every method on one dataset under one wall-clock budget, evaluate each through the '
            'serving controller on held-out seeds; write leaderboard.md/.json/.png.')

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--dataset', required=True,
                            help='dataset root; recorded first (--demos expert episodes) when it does not exist')
        parser.add_argument('--demos', type=int, default=50,
                            help='expert episodes to record (seeds 1..N) when --dataset does not exist (default: 50)')
        parser.add_argument('--feature-map', default=DEFAULT_FEATURES,
                            help=f'feature map to record the dataset with (default: {DEFAULT_FEATURES})')
        parser.add_argument('--methods', type=parse_methods, default=None,
                            help=f'policy types, comma-separated (default: every registered type: {policy_types()})')
        parser.add_argument('--preset', default=None, help="policy preset (default: the budget's)")
        parser.add_argument('--budget', default='cpu-2core', choices=sorted(BUDGETS),
                            help='the machine scale: device, threads, training minutes, preset (default: cpu-2core)')
        parser.add_argument('--train-minutes', type=float, default=None,
                            help="wall-clock limit of each training loop (default: the budget's, 45)")
        parser.add_argument('--steps', type=int, default=None, help="step cap (default: the preset's)")
        parser.add_argument('--batch-size', type=int, default=None, help="batch size (default: the preset's)")
        parser.add_argument('--threads', type=int, default=None, help="torch threads (default: the budget's)")
        parser.add_argument('--num-workers', type=int, default=None,
                            help="DataLoader workers (default: the budget's)")
        parser.add_argument('--seeds', type=parse_seeds, default=DEFAULT_SEEDS,
                            help=f'held-out evaluation seeds (default: {DEFAULT_SEEDS}, i.e. 50 seeds)')
        parser.add_argument('--time-limit', type=float, default=TIME_LIMIT_S,
                            help=f'sim seconds per evaluation episode (default: {TIME_LIMIT_S:g})')
        parser.add_argument('--out', default=DEFAULT_OUT, help=f'leaderboard folder (default: {DEFAULT_OUT})')
        parser.add_argument('--runs', default=str(DEFAULT_RUNS),
                            help=f'run directories, <runs>/<method>-<preset>-<budget> (default: {DEFAULT_RUNS})')
        parser.add_argument('--reuse', action='store_true',
                            help='a run directory that already holds a bench training is evaluated again instead '
                                 'of refused')
        parser.add_argument('--no-progress', dest='progress', action='store_false',
                            help='no progress bars')

    def main(self, args: argparse.Namespace) -> int:
        try:
            return self._bench(args)
        except (DatasetError, FileExistsError, FileNotFoundError, KeyError, ValueError) as exc:
            print(f'dojo bench: {exc}', file=sys.stderr)
            return 1

    def _bench(self, args: argparse.Namespace) -> int:
        row_budget = budget(args.budget).with_overrides(**{name: getattr(args, name) for name in BUDGET_OPTIONS})
        row_budget.check_available()
        methods: Sequence[str] = args.methods or policy_types()
        preset = args.preset or row_budget.preset
        lacking = [m for m in methods if preset not in config_class(m).presets]
        if lacking:
            raise ValueError(f'preset {preset!r} is not offered by {", ".join(lacking)}; choose one with --preset')
        config = BenchConfig(args.seeds, args.time_limit, Path(args.runs), args.reuse, args.progress)
        if len(args.seeds) < MIN_SEEDS:
            print(f'dojo bench: note: {len(args.seeds)} held-out seeds; a leaderboard row wants at least {MIN_SEEDS}')
        recorded = ensure_dataset(args.dataset, args.demos, args.feature_map, args.progress)
        if recorded is not None:
            print(recorded)
            reused = sorted({e.seed for e in recorded.saved} & set(args.seeds))
            if reused:
                raise ValueError(f'held-out seeds {reused} were used to record {args.dataset}')
        episodes = LeRobotDatasetReader(args.dataset).num_episodes
        for method in methods:
            print(f'dojo bench: {method}/{preset} on {args.dataset} ({episodes} episodes), budget {row_budget.name}: '
                  f'{row_budget.train_minutes:g} min of training on {row_budget.device}', flush=True)
            row = bench_row(args.dataset, method, preset, row_budget, config,
                            reproducing_command(args, method, preset, row_budget, episodes))
            _, files = update_leaderboard([row], args.out)   # after every row: a later failure keeps it
            print(f'{row.summary()}\n  evaluation report: {row.eval_report}')
        print(f'leaderboard: {files.markdown}, {files.json}, {files.png}')
        return 0
