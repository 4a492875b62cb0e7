"""Training throughput of ACT's cpu preset with and without the decoded-frame cache.

Prints figures, asserts nothing: `python benchmarks/train_throughput.py --dataset DIR` (a LeRobot
dataset with video cameras; it is only read, the cache goes to a temporary directory or --cache-dir).
Figures:

- cache build: decoding every frame of the training episodes once, in order, resized to the
  preset's 96x128 (`FrameCache.open`), in seconds and frames/s;
- training samples/s through `training_dataset` (ACT windows: both cameras + state + 50-step action
  chunk), random order, one process, decoding video vs reading the cache;
- training steps/s of the cpu preset at batch 8 (`train()`, DataLoader workers as given), decoding
  video vs reading the cache, and the compute alone (the same steps on samples held in memory). The
  rate is taken from loss.csv after the first `--warmup` steps (worker start, first allocations).

The machine's load average is printed before and after: on a shared machine the figures move with it.
"""
from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dojo_core.dataset import LeRobotDatasetReader
from dojo_core.dataset.frame_cache import FrameCache
from dojo_core.training import TrainConfig, train
from dojo_core.training.cli import parse_episodes
from dojo_core.training.run import policy_config, training_dataset


def samples_per_s(dataset, order: np.ndarray) -> float:
    start = time.perf_counter()
    for i in order:
        dataset[int(i)]
    return len(order) / (time.perf_counter() - start)


def steps_per_s(samples, config, stats, out: Path, args: argparse.Namespace, workers: int) -> tuple[float, float]:
    """(steps/s after the warm-up steps, seconds in total) of `args.steps` training steps."""
    run = TrainConfig(steps=args.steps, batch_size=args.batch_size, num_workers=workers, device='cpu',
                      progress=False, seed=0, save_every=10**9)
    result = train(run, samples, out, config, stats)
    with result.loss_csv.open(newline='') as f:
        elapsed = [float(row['elapsed_s']) for row in csv.DictReader(f)]
    return (len(elapsed) - args.warmup) / (elapsed[-1] - elapsed[args.warmup - 1]), elapsed[-1]


def load() -> str:
    return '/'.join(f'{x:.2f}' for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--dataset', type=Path, required=True, help='LeRobot dataset root (read only)')
    parser.add_argument('--episodes', type=parse_episodes, default=None, help='training episodes, e.g. 0:45')
    parser.add_argument('--cache-dir', type=Path, default=None,
                        help='build (or reuse) the cache here instead of in a temporary directory')
    parser.add_argument('--samples', type=int, default=100, help='random samples per uncached dataset figure '
                        '(10x as many through the cache)')
    parser.add_argument('--steps', type=int, default=30, help='training steps per figure')
    parser.add_argument('--warmup', type=int, default=5, help='first steps left out of the steps/s figures')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=2, help='DataLoader worker processes')
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default); on a '
                        'machine busy with other work, 1 can be much faster than spinning on all cores')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f'load average {load()} on {os.cpu_count()} CPUs; torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    reader = LeRobotDatasetReader(args.dataset)
    config = policy_config('act', 'cpu', reader.features, reader.fps)
    cameras = config.image_features
    sizes = ', '.join(f'{reader.features[k]["shape"][1]}x{reader.features[k]["shape"][0]}' for k in cameras)
    print(f'{reader.root}: {reader.num_frames} frames, {reader.num_episodes} episodes, cameras {cameras} ({sizes}); '
          f'ACT cpu preset, images resized to {config.resize_images[1]}x{config.resize_images[0]}, '
          f'chunk {config.chunk_size}')

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        cache = FrameCache.open(reader, args.cache_dir or tmp / 'frame_cache', cameras, config.resize_images,
                                args.episodes)
        seconds = time.perf_counter() - start
        frames = cache.num_frames * len(cameras)
        megabytes = frames * int(np.prod(cache.size)) * 3 / 1e6
        if cache.built:
            print(f'cache build: {frames} frames ({cache.num_frames} x {len(cameras)} cameras, {megabytes:.0f} MB) '
                  f'in {seconds:.1f} s = {frames / seconds:.0f} frames/s')
        else:
            print(f'cache reused from {cache.directory} ({megabytes:.0f} MB), opened in {seconds:.2f} s')

        plain = training_dataset(reader, config, args.episodes)
        cached = training_dataset(reader, config, args.episodes, cache)
        rng = np.random.default_rng(0)
        rate = samples_per_s(plain, rng.choice(len(plain), min(args.samples, len(plain)), replace=False))
        print(f'samples/s, random order, 1 process: decoding {rate:.1f}', end='', flush=True)
        rate = samples_per_s(cached, rng.choice(len(cached), min(10 * args.samples, len(cached)), replace=False))
        print(f', cache {rate:.0f}')

        print(f'training steps/s, batch {args.batch_size}, {args.steps} steps (rate over the last '
              f'{args.steps - args.warmup}), {args.workers} DataLoader workers:')
        in_memory = [cached[int(i)] for i in rng.choice(len(cached), min(8 * args.batch_size, len(cached)),
                                                        replace=False)]
        for name, samples, workers in (('decoding video', plain, args.workers), ('frame cache', cached, args.workers),
                                       ('compute alone (samples in memory, no workers)', in_memory, 0)):
            rate, total = steps_per_s(samples, config, reader.stats, tmp / name.split()[0], args, workers)
            print(f'  {name}: {rate:.2f} steps/s ({total:.0f} s in total)', flush=True)
    print(f'load average {load()}')


if __name__ == '__main__':
    main()
