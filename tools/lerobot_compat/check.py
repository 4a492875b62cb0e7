"""Does lerobot itself load this dataset? Load it with `LeRobotDataset` and read every frame.

Runs in the separate lerobot venv (see README.md). The dataset is opened exactly as a lerobot user
would open a local copy, `LeRobotDataset(repo_id, root=path)`, then every item is read, which
decodes every camera frame through lerobot's own decoder and its timestamp tolerance check.
Prints a summary and exits 0 only if everything loaded; any exception is printed with the frame
it happened at and the exit status is 1.

    /tmp/lerobot-venv/bin/python tools/lerobot_compat/check.py /path/to/dataset
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path


def default_backend() -> str:
    """lerobot's own choice (torchcodec), unless torchcodec cannot load here (it needs system FFmpeg
    libraries); then PyAV, which is what lerobot itself falls back to on such platforms."""
    try:
        import torchcodec.decoders  # noqa: F401
        return 'torchcodec'
    except (ImportError, RuntimeError, OSError):
        return 'pyav'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', type=Path, help='dataset root (holds meta/info.json)')
    parser.add_argument('--repo-id', default=None, help='repo id to pass (default: local/<directory name>)')
    parser.add_argument('--video-backend', choices=('torchcodec', 'pyav'), default=None,
                        help='decoder (default: torchcodec if it loads, else pyav)')
    args = parser.parse_args()

    import lerobot
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    backend = args.video_backend or default_backend()
    repo_id = args.repo_id or f'local/{args.root.resolve().name}'
    print(f'lerobot {lerobot.__version__}, video backend {backend}: loading {args.root}')
    index = None
    try:
        dataset = LeRobotDataset(repo_id, root=args.root, video_backend=backend)
        meta = dataset.meta
        print(f'  codebase {meta.info["codebase_version"]}, fps {meta.fps}, {meta.total_episodes} episodes, '
              f'{meta.total_frames} frames, {meta.total_tasks} tasks, robot {meta.robot_type}')
        print(f'  features: {", ".join(meta.features)}')
        if len(dataset) != meta.total_frames:
            raise RuntimeError(f'{len(dataset)} items but info.json says {meta.total_frames} frames')
        start = time.perf_counter()
        shapes = {}
        for index in range(len(dataset)):
            item = dataset[index]
            for key in meta.camera_keys:
                shapes[key] = tuple(item[key].shape)
            if int(item['index']) != index:
                raise RuntimeError(f'item {index} has index {int(item["index"])}')
        elapsed = time.perf_counter() - start
        for key, shape in shapes.items():
            print(f'  {key}: decoded {len(dataset)} frames, shape {shape}')
        tasks = sorted(str(t) for t in meta.tasks.index)
        print(f'  tasks: {tasks}')
        print(f'OK: read {len(dataset)} frames in {elapsed:.1f} s')
        return 0
    except Exception:  # report whatever lerobot raised, with where it happened
        traceback.print_exc()
        where = f' at frame {index}' if index is not None else ' while loading'
        print(f'FAILED{where}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
