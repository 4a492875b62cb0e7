"""Training read speed of LeRobot datasets: samples/s for random access with ACT-style windows.

Prints figures, asserts nothing: `python benchmarks/dataset_read.py` (or `--root DIR` to measure an
existing dataset instead of the generated one). The generated dataset is written by dojo's
`DatasetWriter` with LeRobot's default encoding (AV1, yuv420p, keyframe every 2 frames): two
cameras at 640x480, state/action float32[6], 30 fps. Each training sample is what ACT asks for:
one observation (both camera frames decoded, state) and a 100-step action chunk
(`delta_timestamps={'action': [0, 1/30, ..., 99/30]}`), drawn in random order as a shuffling
DataLoader would. Figures: decoding alone, samples in one process, and a DataLoader with worker
processes (each figure the best of three runs, to damp the noise of a shared machine).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dojo_core.dataset.format import joint_names, vector_feature, video_feature
from dojo_core.dataset.torch_dataset import LeRobotTorchDataset
from dojo_core.dataset.writer import DatasetWriter
from dojo_core.robot.description import JOINT_NAMES

CAMERAS = ('observation.images.front', 'observation.images.wrist')


def synthetic_image(camera: int, t: float, height: int, width: int, texture: np.ndarray) -> np.ndarray:
    """A static texture with a moving bright square and a drifting tint: compresses like a scene."""
    image = texture.copy()
    size = height // 6
    y = int((0.5 + 0.4 * np.sin(t + camera)) * (height - size))
    x = int((0.5 + 0.4 * np.cos(0.7 * t)) * (width - size))
    image[y:y + size, x:x + size] = (230, 200, 40)
    image[..., camera] = np.clip(image[..., camera].astype(np.int16) + int(30 * np.sin(0.5 * t)), 0, 255)
    return image


def generate(root: Path, episodes: int, length: int, height: int, width: int, fps: int) -> None:
    names = joint_names(JOINT_NAMES)
    features = {'observation.state': vector_feature(names), 'action': vector_feature(names)}
    features.update({camera: video_feature(height, width) for camera in CAMERAS})
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    textures = [np.stack([(xx * 255 // width), (yy * 255 // height), ((xx + yy) % 64) * 4], axis=-1).astype(np.uint8)
                + rng.integers(0, 12, (height, width, 3), dtype=np.uint8) for _ in CAMERAS]
    writer = DatasetWriter.create(root, 'bench/dataset_read', fps=fps, features=features, robot_type='so101_follower')
    with writer:
        for e in range(episodes):
            for f in range(length):
                t = (e * length + f) / fps
                q = np.sin(t + np.arange(6)).astype(np.float32)
                frame = {'observation.state': q, 'action': q + np.float32(0.01)}
                frame.update({camera: synthetic_image(c, t, height, width, textures[c])
                              for c, camera in enumerate(CAMERAS)})
                writer.add_frame(frame, task='pick up the cube')
            writer.save_episode()


def best_rate(fn, count: int, repeats: int = 3) -> float:
    """Items/s of fn() (which handles `count` items), best of `repeats`: less noise from other load."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = max(best, count / (time.perf_counter() - start))
    return best


def load_all(dataset: LeRobotTorchDataset, count: int, workers: int, batch_size: int) -> None:
    sampler = torch.utils.data.RandomSampler(dataset, num_samples=count)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers)
    for _ in loader:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', type=Path, help='measure this dataset instead of generating one')
    parser.add_argument('--episodes', type=int, default=4)
    parser.add_argument('--length', type=int, default=150, help='frames per generated episode')
    parser.add_argument('--samples', type=int, default=200, help='random samples per measurement')
    parser.add_argument('--workers', type=int, default=2, help='DataLoader worker processes')
    parser.add_argument('--batch-size', type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if root is None:
            root = Path(tmp) / 'dataset'
            start = time.perf_counter()
            generate(root, args.episodes, args.length, 480, 640, 30)
            print(f'generated {args.episodes} x {args.length} frames, 2 cameras 640x480 AV1, '
                  f'in {time.perf_counter() - start:.0f} s')
        dataset = LeRobotTorchDataset(root, delta_timestamps={'action': [i / 30 for i in range(100)]})
        reader = dataset.reader
        cameras = reader.camera_keys
        n = min(args.samples, reader.num_frames)
        order = np.random.default_rng(0).permutation(reader.num_frames)[:n]
        print(f'{root}: {reader.num_frames} frames, {reader.num_episodes} episodes, cameras {cameras}; '
              f'best of 3 runs of {n}')

        for camera in cameras:
            rate = best_rate(lambda c=camera: [reader.read(c, [int(i)]) for i in order], n)
            print(f'random access decode, {camera}: {rate:.0f} frames/s ({1e3 / rate:.1f} ms/frame)')
        rate = best_rate(lambda: reader.read(cameras[0], np.arange(n)), n)
        print(f'sequential decode, {cameras[0]}: {rate:.0f} frames/s')

        print(f'training samples, random order (ACT: {len(cameras)} camera frames as float32 CHW + state '
              f'+ 100-step action chunk):')
        rate = best_rate(lambda: [dataset[int(i)] for i in order], n)
        print(f'  dataset[i], 1 process: {rate:.1f} samples/s = {rate * len(cameras):.0f} camera frames/s')
        if args.workers:
            rate = best_rate(lambda: load_all(dataset, n, args.workers, args.batch_size), n)
            print(f'  DataLoader batch {args.batch_size}, {args.workers} workers: {rate:.1f} samples/s '
                  f'= {rate * len(cameras):.0f} camera frames/s')


if __name__ == '__main__':
    main()
