"""Dataset writer cost on this machine: live encoding rate, save_episode time, join cost by file size.

Prints figures, asserts nothing: `python benchmarks/dataset_save.py [--size 640x480 --cameras 2]`.

1. Records episodes of moving synthetic camera frames plus SO-101 state/action as fast as the
   encoders accept them (add_frame blocks when an encoder is behind), and prints the frame rate
   recording sustained and what each save_episode cost (encoder flush + parquet + stream-copy
   join + metadata, all fsynced).
2. Times the stream-copy join alone (`concatenate`, what a save does to each camera's current
   file) for files of growing size, since that part of a save grows with the file (bounded by
   video_files_size_in_mb, default 200).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dojo_core.dataset import DatasetWriter, VideoEncoderConfig
from dojo_core.dataset.format import joint_names, vector_feature, video_feature
from dojo_core.dataset.video_encoder import Piece, concatenate
from dojo_core.robot.description import JOINT_NAMES


def frames(height: int, width: int, count: int) -> list[np.ndarray]:
    """A looping clip: smooth colour waves with a little noise (closer to camera bitrates than flat colour)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width] / 64.0
    clip = []
    for i in range(count):
        waves = [128 + 80 * np.sin(2 * np.pi * (0.6 * x + 0.02 * i)), 128 + 80 * np.cos(2 * np.pi * (0.5 * y - 0.015 * i)),
                 128 + 50 * np.sin(2 * np.pi * (0.4 * (x + y) + 0.01 * i))]
        clip.append((np.stack(waves, axis=-1) + rng.normal(0, 4, (height, width, 3))).clip(0, 255).astype(np.uint8))
    return clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', default='640x480', help='camera WIDTHxHEIGHT (default 640x480)')
    parser.add_argument('--cameras', type=int, default=2)
    parser.add_argument('--episodes', type=int, default=3)
    parser.add_argument('--frames', type=int, default=150, help='frames per episode (default 150 = 5 s at 30 fps)')
    parser.add_argument('--codec', default='libsvtav1')
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split('x'))
    clip = frames(height, width, 60)
    cameras = [f'observation.images.cam{i}' for i in range(args.cameras)]
    names = joint_names(JOINT_NAMES)
    features = {'observation.state': vector_feature(names), 'action': vector_feature(names),
                **{key: video_feature(height, width) for key in cameras}}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / 'ds'
        writer = DatasetWriter.create(root, 'bench/save', 30, features, video=VideoEncoderConfig(codec=args.codec))
        print(f'{args.cameras} camera(s) {width}x{height} {args.codec}, {args.frames} frames per episode')
        for episode in range(args.episodes):
            start = time.perf_counter()
            for f in range(args.frames):
                q = np.sin(0.05 * f + np.arange(6)).astype(np.float32)
                writer.add_frame({'observation.state': q, 'action': q,
                                  **{key: clip[(f + 7 * i) % len(clip)] for i, key in enumerate(cameras)}}, task='bench')
            recorded = time.perf_counter() - start
            summary = writer.save_episode()
            size = (root / summary.video_files[cameras[0]]).stat().st_size
            print(f'  episode {episode}: recorded at {args.frames / recorded:6.1f} frames/s per camera, '
                  f'save_episode {summary.save_seconds * 1000:6.0f} ms (camera file now {size / 1e6:.1f} MB)')
        writer.close()

        segment = root / f'videos/{cameras[0]}/chunk-000/file-000.mp4'
        frames_per_copy = args.episodes * args.frames
        print('stream-copy join of the current file + one episode, by current file size:')
        current, count = Path(tmp) / 'current.mp4', frames_per_copy
        concatenate([Piece(segment)], current, 30)
        while current.stat().st_size < 220e6:
            start = time.perf_counter()
            joined = Path(tmp) / 'joined.mp4'
            concatenate([Piece(current), Piece(segment, offset=count)], joined, 30)
            seconds = time.perf_counter() - start
            print(f'  {current.stat().st_size / 1e6:7.1f} MB ({count} frames): {seconds * 1000:6.0f} ms')
            # grow geometrically: the file joined with itself
            doubled = Path(tmp) / 'doubled.mp4'
            concatenate([Piece(current), Piece(current, offset=count)], doubled, 30)
            doubled.replace(current)
            count *= 2


if __name__ == '__main__':
    main()
