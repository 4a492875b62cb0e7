"""ACT ablations on the sim cell: one factor changed at a time, same data, same budget, same seeds.

Prints and writes a table, asserts nothing:

    python benchmarks/act_ablations.py --dataset outputs/bench/demos200 --out docs/results/act_ablations \
        --minutes 12 --seeds 1001:1031 [--only reference,demos50] [--reference-run RUN]

Training variants change the data (episodes), the ACT config (`--policy-option` fields) or the
recipe, each trained by `run_training` (what `dojo train` runs) under the same wall-clock budget
with the `cpu` preset as the base. Serving variants take the reference checkpoint and change only
how its chunks are executed (the `ServingConfig` of policy_node). Every variant is evaluated with
`evaluate_with_traces` on the same held-out seeds through the serving controller with the measured
inference latency, and gets the failure analysis (where its failures stopped). Rows accumulate in
<out>/ablations.json (a rerun of a variant replaces its row) and <out>/ablations.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dojo_core.evaluation import RolloutConfig, evaluate_with_traces, write_failure_analysis, write_report
from dojo_core.policies import load_policy
from dojo_core.serving import ServingConfig, resolve_feature_map
from dojo_core.training.checkpoint import PRETRAINED_DIR, last_checkpoint
from dojo_core.training.cli import parse_episodes
from dojo_core.training.config import TrainConfig
from dojo_core.training.run import FRAME_CACHE_DIR, run_training


@dataclass(frozen=True)
class Variant:
    """One row: what differs from the reference (training) or how the reference is served."""

    what: str
    episodes: str | None = None                                # e.g. '0:50'; None = all
    policy: dict[str, Any] = field(default_factory=dict)        # ACT config fields over the cpu preset
    recipe: dict[str, Any] = field(default_factory=dict)        # TrainConfig fields over REFERENCE_RECIPE
    serving: dict[str, Any] | None = None                      # set: evaluate the reference run served so

    @property
    def trains(self) -> bool:
        return self.serving is None


#: The reference recipe: the cpu preset's schedule as `dojo train --preset cpu` runs it.
REFERENCE_RECIPE: dict[str, Any] = {}

VARIANTS: dict[str, Variant] = {
    'reference': Variant('cpu preset (reference)'),
    'demos50': Variant('50 demonstrations', episodes='0:50'),
    'demos100': Variant('100 demonstrations', episodes='0:100'),
    'img72x96': Variant('images 72x96', policy={'resize_images': [72, 96]}),
    'img120x160': Variant('images 120x160', policy={'resize_images': [120, 160]}),
    'chunk25': Variant('chunk 25', policy={'chunk_size': 25, 'n_action_steps': 25}),
    'kl1': Variant('KL weight 1', policy={'kl_weight': 1.0}),
    'novae': Variant('no CVAE (latent 0)', policy={'use_vae': False}),
    'dropout0.1': Variant('dropout 0.1', policy={'dropout': 0.1}),
    'crop': Variant('random crop 88x120 (augmentation)', policy={'crop_images': [88, 120]}),
    'constant_lr': Variant('constant lr (no cosine)', recipe={'scheduler': 'constant', 'warmup_steps': 0}),
    'serve_whole_chunk': Variant('served: whole chunk open loop', serving={'execution': 'queue',
                                                                           'n_action_steps': 0,
                                                                           'chunk_threshold': 0.0}),
    'serve_async25': Variant('served: async, 25 steps per chunk', serving={'execution': 'queue', 'n_action_steps': 25}),
    'serve_async10': Variant('served: async, 10 steps per chunk', serving={'execution': 'queue', 'n_action_steps': 10}),
    'serve_weighted': Variant('served: async, weighted average', serving={'execution': 'queue',
                                                                          'aggregate': 'weighted_average'}),
    'serve_ensemble': Variant('served: temporal ensemble', serving={'execution': 'temporal_ensemble'}),
}


def train(name: str, variant: Variant, args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    out = Path(args.runs) / name
    if args.frame_cache_from and not out.exists():
        # hard links: the run takes the cache when its manifest matches the run's data, else rebuilds it
        shutil.copytree(Path(args.frame_cache_from) / FRAME_CACHE_DIR, out / FRAME_CACHE_DIR, copy_function=os.link)
    recipe = {**REFERENCE_RECIPE, **variant.recipe}
    config = TrainConfig(time_limit_s=args.minutes * 60, progress=False, log_every=1000,
                         **({'steps': args.steps} if args.steps else {}), **recipe)
    started = time.perf_counter()
    result = run_training(args.dataset, out, policy='act', preset='cpu', train_config=config,
                          episodes=parse_episodes(variant.episodes) if variant.episodes else None,
                          policy_overrides=variant.policy)
    return result.checkpoint / PRETRAINED_DIR, {'steps': result.step, 'loss': round(result.loss, 4),
                                                'train_wall_s': round(time.perf_counter() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--dataset', required=True)
    parser.add_argument('--out', default='docs/results/act_ablations')
    parser.add_argument('--runs', default='outputs/act_ablations', help='training runs, one folder per variant')
    parser.add_argument('--minutes', type=float, default=12.0, help='training-loop budget of each variant')
    parser.add_argument('--steps', type=int, default=0, help='step cap (0 = the preset\'s)')
    parser.add_argument('--seeds', default='1001:1031')
    parser.add_argument('--only', default='', help=f'comma-separated variants (default: all of {", ".join(VARIANTS)})')
    parser.add_argument('--frame-cache-from', default='', help='a run directory whose frame cache (96x128, all '
                        'episodes) the variants start from, instead of decoding the videos again')
    parser.add_argument('--reference-run', default='', help='run directory serving variants take their checkpoint '
                                                            'from (default: <runs>/reference)')
    args = parser.parse_args()
    first, stop = (int(x) for x in args.seeds.split(':'))
    seeds = range(first, stop)
    names = args.only.split(',') if args.only else list(VARIANTS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = out / 'ablations.json'
    rows = json.loads(table.read_text()) if table.is_file() else {}
    for name in names:
        variant = VARIANTS[name]
        if variant.trains:
            checkpoint, trained = train(name, variant, args)
        else:
            reference = Path(args.reference_run or Path(args.runs) / 'reference')
            checkpoint, trained = last_checkpoint(reference) / PRETRAINED_DIR, {'run': str(reference)}
        policy = load_policy(checkpoint, device='cpu')
        feature_map, _ = resolve_feature_map(checkpoint, policy.config)
        serving = ServingConfig(**(variant.serving or {}))
        started = time.perf_counter()
        report, traces = evaluate_with_traces(policy, seeds, name=f'{name}: {variant.what}',
                                              rollout_config=RolloutConfig(), serving=serving,
                                              feature_map=feature_map)
        write_report(report, out / name)
        write_failure_analysis(report, traces, out / name)
        low, high = report.interval()
        failed = [e.phase for e in report.episodes if not e.success]
        rows[name] = {'what': variant.what, **trained, 'successes': report.successes, 'trials': report.trials,
                      'wilson': [round(low, 3), round(high, 3)], 'mean_time_to_success_s': report.mean_time_to_success,
                      'failures': {p: failed.count(p) for p in sorted(set(failed))},
                      'eval_wall_s': round(time.perf_counter() - started), 'seeds': args.seeds,
                      'minutes': args.minutes}
        print(name, json.dumps(rows[name]), flush=True)
        table.write_text(json.dumps(rows, indent=1) + '\n')
        (out / 'ablations.md').write_text(markdown(rows))


def markdown(rows: dict[str, dict[str, Any]]) -> str:
    lines = ['# ACT ablations (sim pick-and-place, ROS-free serving controller)', '',
             '| variant | what | steps | final loss | success | 95 % CI (Wilson) | mean time to success | '
             'failures stopped in |', '|---|---|---:|---:|---:|---:|---:|---|']
    for name, r in rows.items():
        mtts = r['mean_time_to_success_s']
        failures = ', '.join(f'{p} {n}' for p, n in r['failures'].items()) or '-'
        lines.append(f"| {name} | {r['what']} | {r.get('steps', '(reference)')} | {r.get('loss', '')} | "
                     f"{r['successes']}/{r['trials']} | {100 * r['wilson'][0]:.0f}-{100 * r['wilson'][1]:.0f} % | "
                     f"{'-' if mtts is None else f'{mtts:.1f} s'} | {failures} |")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
