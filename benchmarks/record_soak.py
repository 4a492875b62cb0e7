"""Long recording session: many back-to-back short episodes through the real recording path.

Prints figures, asserts nothing: `python benchmarks/record_soak.py [--episodes 100 --codec libx264]`.

A lab records hundreds of episodes in one recorder session, so what each saved episode leaves
behind (memory, open files, threads) must not add up. This drives dojo_core.recording the way
recorder_node does, without ROS: rclpy messages (joint states, commands, two rgb8 cameras) on an
exact grid pushed into a RecordingSession with the clock, polled, stopped and saved with live
video encoding, episode after episode, into one dataset. After each save it prints the process
RSS, open file descriptors and threads; at the end, the RSS growth after the warm-up episodes
(the target is flat within 5 %).
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from builtin_interfaces.msg import Time

from dojo_core.dataset import VideoEncoderConfig, validate
from dojo_core.recording import DatasetSettings, RecordingSession
from dojo_core.robot import JOINT_NAMES
from dojo_core.sync import FeatureMap
from dojo_ros.image import numpy_to_image
from dojo_ros.joint_state import vector_to_joint_state

FPS = 30
CAMERAS = ('front', 'wrist')
T0 = 1_700_000_000_000_000_000


def feature_map(width: int, height: int) -> FeatureMap:
    joints = {'type': 'sensor_msgs/msg/JointState', 'joints': list(JOINT_NAMES)}
    features = {'observation.state': {'topic': 'joint_states', **joints},
                'action': {'topic': 'joint_commands', **joints, 'max_age': math.inf}}
    for cam in CAMERAS:
        features[f'observation.images.{cam}'] = {'topic': f'cameras/{cam}/image_raw', 'type': 'sensor_msgs/msg/Image',
                                                 'width': width, 'height': height, 'encoding': 'rgb8'}
    return FeatureMap.from_dict({'fps': FPS, 'latency': 0.1, 'features': features})


def clip(width: int, height: int, count: int = FPS) -> list[np.ndarray]:
    """A second of moving colour waves with a little noise (realistic work for the encoder)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width] / 64.0
    out = []
    for k in range(count):
        waves = [128 + 80 * np.sin(2 * np.pi * (0.6 * x + k / count)), 128 + 80 * np.cos(2 * np.pi * (0.5 * y - k / count)),
                 128 + 50 * np.sin(2 * np.pi * (0.4 * (x + y) + 2 * k / count))]
        out.append((np.stack(waves, axis=-1) + rng.normal(0, 4, (height, width, 3))).clip(0, 255).astype(np.uint8))
    return out


def stamp(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def record_episode(session: RecordingSession, pictures: dict[str, list[np.ndarray]], start_ns: int,
                   frames: int) -> tuple[int, int]:
    """One episode of ``frames`` ticks as the live recorder sees it; returns (saved frames, next start)."""
    session.start_episode('soak: record many episodes', start_ns)
    t = start_ns
    for k in range(frames):
        t = start_ns + round(k * 1e9 / FPS)
        q = 0.3 * np.sin(2 * np.pi * 0.2 * k / FPS + np.arange(len(JOINT_NAMES)))
        session.push('joint_states', vector_to_joint_state(JOINT_NAMES, q, np.zeros(len(JOINT_NAMES)), stamp=stamp(t)), t)
        session.push('joint_commands', vector_to_joint_state(JOINT_NAMES, q, stamp=stamp(t)), t)
        for cam in CAMERAS:
            session.push(f'cameras/{cam}/image_raw', numpy_to_image(pictures[cam][k % FPS], 'rgb8', stamp=stamp(t)), t)
        session.poll(t)
    session.request_stop(t)
    result = session.stop_episode().result()
    if result.error is not None:
        raise RuntimeError(result.message())
    return result.frames, t + 1_000_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--episodes', type=int, default=100)
    parser.add_argument('--frames', type=int, default=15, help='ticks per episode (default 15 = 0.5 s at 30 fps)')
    parser.add_argument('--size', default='320x240', help='camera WIDTHxHEIGHT (default 320x240)')
    parser.add_argument('--codec', default='libsvtav1', choices=('libsvtav1', 'libx264'))
    parser.add_argument('--warmup', type=int, default=10, help='episodes before the RSS reference (default 10)')
    parser.add_argument('--every', type=int, default=1, help='print every N-th episode (default 1)')
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split('x'))
    pictures = {cam: clip(width, height) for cam in CAMERAS}
    process = psutil.Process()
    print(f'{args.episodes} episodes of {args.frames} frames, 2 cameras {width}x{height} {args.codec}')
    print(f'{"episode":>7} {"frames":>6} {"rss_MB":>8} {"fds":>5} {"threads":>7} {"s":>6}')
    rss: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / 'soak'
        settings = DatasetSettings(root=root, repo_id='bench/soak', video=VideoEncoderConfig(codec=args.codec))
        session = RecordingSession(settings, feature_map(width, height))
        start_ns = T0
        began = time.perf_counter()
        try:
            for episode in range(args.episodes):
                tic = time.perf_counter()
                saved, start_ns = record_episode(session, pictures, start_ns, args.frames)
                rss.append(process.memory_info().rss / 2**20)
                if episode % args.every == 0 or episode == args.episodes - 1:
                    print(f'{episode:>7} {saved:>6} {rss[-1]:>8.1f} {process.num_fds():>5} '
                          f'{process.num_threads():>7} {time.perf_counter() - tic:>6.2f}', flush=True)
        finally:
            session.close()
        elapsed = time.perf_counter() - began
        problems = validate(root, decode_video=False)
    warm = min(args.warmup, len(rss) - 1)
    reference, final, peak = rss[warm], rss[-1], max(rss[warm:])
    print(f'RSS after warm-up (episode {warm}) {reference:.1f} MB, final {final:.1f} MB, peak {peak:.1f} MB: '
          f'{100 * (final - reference) / reference:+.1f} % ({(final - reference) / max(1, len(rss) - 1 - warm):+.2f} '
          f'MB per episode); {elapsed:.0f} s in all; dataset valid: {not problems}')


if __name__ == '__main__':
    main()
