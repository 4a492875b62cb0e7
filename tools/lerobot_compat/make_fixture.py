"""Write the "dojo must read what lerobot writes" fixture with lerobot's own dataset writer.

Runs in the separate lerobot venv (see README.md), not in dojo's: lerobot pins an older torch.
Creates a tiny LeRobot v3.0 dataset with `LeRobotDataset.create` / `add_frame` / `save_episode` /
`finalize`: 3 episodes, fps 30, SO-101 `observation.state` and `action` float32[6], scalar
`next.reward` / `next.done`, two video cameras (64x48 and 32x24) and two tasks. Every value is a
deterministic function of (camera, episode, frame), defined here with numpy only, so dojo's tests
recompute the expected frames by importing this module (lerobot is imported only in `main`), and
`expected.json` records the vectors and tasks next to the dataset.

    /tmp/lerobot-venv/bin/python tools/lerobot_compat/make_fixture.py tests/data/lerobot_v30 --overwrite
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

FPS = 30
REPO_ID = 'dojo/lerobot_v30_fixture'
JOINTS = ('shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper')
CAMERAS = {'observation.images.front': (48, 64), 'observation.images.wrist': (24, 32)}  # (height, width)
TASKS = ('pick up the cube', 'put the cube in the bin')
EPISODES = ((12, TASKS[0]), (17, TASKS[1]), (15, TASKS[0]))  # (length, task)
# Lossy AV1 at lerobot's default crf 30 keeps these flat-colour-plus-ramp frames above this PSNR.
MIN_PSNR_DB = 30.0


def state(episode: int, frame: int) -> np.ndarray:
    """Joint j of frame f of episode e: e*100 + f + j/8 (exact in float32, readable when shifted)."""
    return (episode * 100.0 + frame + np.arange(len(JOINTS)) / 8.0).astype(np.float32)


def action(episode: int, frame: int) -> np.ndarray:
    return state(episode, frame) + np.float32(0.5)


def reward(episode: int, frame: int) -> np.float32:
    return np.float32(frame / EPISODES[episode][0])


def done(episode: int, frame: int) -> bool:
    return frame == EPISODES[episode][0] - 1


def synthetic_frame(camera: str, episode: int, frame: int) -> np.ndarray:
    """(H, W, 3) uint8: a colour that jumps from frame to frame plus horizontal/vertical ramps.

    Flat colour with gentle ramps survives lossy coding well, while neighbouring frames differ by
    tens of levels, so a decoder that returns the wrong frame (off by one) is caught; the ramps
    catch transposed or flipped images.
    """
    height, width = CAMERAS[camera]
    cam = list(CAMERAS).index(camera)
    base = np.array([(frame * 73 + cam * 40) % 180, (episode * 67 + frame * 29) % 180, (frame * 41 + 90) % 180],
                    dtype=np.float64) + 38.0
    x = np.linspace(-18.0, 18.0, width)[None, :]
    y = np.linspace(-18.0, 18.0, height)[:, None]
    image = np.empty((height, width, 3))
    image[..., 0] = base[0] + x
    image[..., 1] = base[1]
    image[..., 2] = base[2] + y
    return np.round(image).astype(np.uint8)


def features() -> dict:
    names = [f'{j}.pos' for j in JOINTS]
    out = {
        'observation.state': {'dtype': 'float32', 'shape': (len(JOINTS),), 'names': names},
        'action': {'dtype': 'float32', 'shape': (len(JOINTS),), 'names': names},
        'next.reward': {'dtype': 'float32', 'shape': (1,), 'names': None},
        'next.done': {'dtype': 'bool', 'shape': (1,), 'names': None},
    }
    for key, (height, width) in CAMERAS.items():
        out[key] = {'dtype': 'video', 'shape': (height, width, 3), 'names': ['height', 'width', 'channels']}
    return out


def expected() -> dict:
    """What a reader must find, recorded next to the dataset (frames: see `synthetic_frame`)."""
    return {
        'fps': FPS,
        'cameras': {key: list(shape) for key, shape in CAMERAS.items()},
        'min_psnr_db': MIN_PSNR_DB,
        'episodes': [{
            'episode_index': e,
            'length': length,
            'task': task,
            'observation.state': [state(e, f).tolist() for f in range(length)],
            'action': [action(e, f).tolist() for f in range(length)],
            'next.reward': [float(reward(e, f)) for f in range(length)],
            'next.done': [done(e, f) for f in range(length)],
        } for e, (length, task) in enumerate(EPISODES)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out', type=Path, help='directory to hold the dataset (meta/, data/, videos/)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing dataset in OUT')
    args = parser.parse_args()

    import lerobot
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    parts = ('meta', 'data', 'videos')
    if any((args.out / p).exists() for p in parts) and not args.overwrite:
        print(f'{args.out} already holds a dataset; pass --overwrite to replace it', file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / 'dataset'
        dataset = LeRobotDataset.create(REPO_ID, fps=FPS, features=features(), root=root,
                                        robot_type='so101_follower', use_videos=True)
        for e, (length, task) in enumerate(EPISODES):
            for f in range(length):
                frame = {'observation.state': state(e, f), 'action': action(e, f),
                         'next.reward': np.array([reward(e, f)], dtype=np.float32),
                         'next.done': np.array([done(e, f)], dtype=bool), 'task': task}
                frame.update({key: synthetic_frame(key, e, f) for key in CAMERAS})
                dataset.add_frame(frame)
            dataset.save_episode()
        dataset.finalize()
        args.out.mkdir(parents=True, exist_ok=True)
        for part in parts:
            shutil.rmtree(args.out / part, ignore_errors=True)
            shutil.copytree(root / part, args.out / part)
    record = {'generated_by': f'lerobot {lerobot.__version__} LeRobotDataset.create/add_frame/save_episode',
              **expected()}
    (args.out / 'expected.json').write_text(json.dumps(record, indent=1) + '\n')
    size = sum(p.stat().st_size for p in args.out.rglob('*') if p.is_file())
    print(f'wrote {args.out}: {len(EPISODES)} episodes, {sum(n for n, _ in EPISODES)} frames, {size / 1024:.0f} KiB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
