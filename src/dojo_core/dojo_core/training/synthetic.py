"""Generated episodes that follow the dataset reader's sample contract, for tests and smoke runs.

Each sample is what `dojo_core.dataset.torch_dataset` yields for a LeRobot dataset loaded with
`delta_timestamps = {key: [i / fps for i in delta_indices[key]]}` (a policy's windows:
`PolicyConfig.delta_indices()`; by default 10 actions): `observation.state` (D,),
`observation.images.<cam>` (3, H, W) in [0, 1], `action` (D,), each with a leading window axis and
`<key>_is_pad` when it has a window (frames outside the episode repeat its first or last frame),
plus `task`, `index`, `episode_index`, `frame_index`, `timestamp`. `features` mirrors
meta/info.json and `stats` meta/stats.json.

The episodes are learnable on purpose: the state follows a smooth per-episode joint trajectory,
the action is the next state, and every camera shows a square whose position encodes the frame
index, so a policy can be checked to replay an episode it has overfitted.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dojo_core.policies.features import ACTION_KEY, IMAGE_PREFIX, STATE_KEY
from dojo_core.robot.description import JOINT_NAMES

SQUARE = 6  # pixels


@dataclass
class SyntheticEpisodes(Dataset):
    n_episodes: int = 1
    episode_length: int = 30
    delta_indices: Mapping[str, Sequence[int]] = field(default_factory=lambda: {ACTION_KEY: range(10)})
    cameras: tuple[str, ...] = ('front', 'wrist')
    image_size: tuple[int, int] = (32, 32)  # (height, width)
    fps: int = 30
    seed: int = 0
    task: str = 'move along the demonstrated path'
    states: np.ndarray = field(init=False, repr=False)
    images: dict[str, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        t = np.arange(self.episode_length + 1) / self.fps
        amplitude = rng.uniform(0.3, 1.0, (self.n_episodes, 1, len(JOINT_NAMES)))
        phase = rng.uniform(0, 2 * np.pi, (self.n_episodes, 1, len(JOINT_NAMES)))
        rate = rng.uniform(0.5, 1.5, (self.n_episodes, 1, len(JOINT_NAMES)))
        # (episodes, length + 1, joints): one extra step so that the last frame has a "next state"
        self.states = (amplitude * np.sin(2 * np.pi * rate * t[None, :, None] / 2 + phase)).astype(np.float32)
        height, width = self.image_size
        self.images = {}
        for c, camera in enumerate(self.cameras):
            frames = np.zeros((self.n_episodes, self.episode_length, 3, height, width), dtype=np.float32)
            frames[:] = rng.uniform(0.0, 0.3, (self.n_episodes, 1, 3, 1, 1))  # per-episode background tint
            for i in range(self.episode_length):
                s = i / max(1, self.episode_length - 1)
                # even cameras see the square move diagonally, odd ones horizontally
                y = int(round(s * (height - SQUARE))) if c % 2 == 0 else (height - SQUARE) // 2
                x = int(round(s * (width - SQUARE)))
                frames[:, i, c % 3, y:y + SQUARE, x:x + SQUARE] = 1.0
            self.images[camera] = frames

    def __len__(self) -> int:
        return self.n_episodes * self.episode_length

    def _actions(self, episode: int) -> np.ndarray:
        return self.states[episode, 1:]

    def __getitem__(self, index: int) -> dict[str, Any]:
        episode, frame = divmod(int(index), self.episode_length)
        per_frame = {STATE_KEY: self.states[episode, :-1], ACTION_KEY: self._actions(episode),
                     **{IMAGE_PREFIX + camera: frames[episode] for camera, frames in self.images.items()}}
        sample: dict[str, Any] = {}
        for key, values in per_frame.items():
            if key not in self.delta_indices:
                sample[key] = torch.from_numpy(values[frame].copy())
                continue
            wanted = frame + np.asarray(self.delta_indices[key])
            clamped = np.clip(wanted, 0, self.episode_length - 1)
            sample[key] = torch.from_numpy(values[clamped])
            sample[f'{key}_is_pad'] = torch.from_numpy(wanted != clamped)
        sample.update({
            'task': self.task,
            'index': torch.tensor(index),
            'episode_index': torch.tensor(episode),
            'frame_index': torch.tensor(frame),
            'timestamp': torch.tensor(frame / self.fps, dtype=torch.float32),
        })
        return sample

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        """The `features` block of meta/info.json."""
        names = [f'{j}.pos' for j in JOINT_NAMES]
        height, width = self.image_size
        features: dict[str, dict[str, Any]] = {
            STATE_KEY: {'dtype': 'float32', 'shape': [len(names)], 'names': names},
            ACTION_KEY: {'dtype': 'float32', 'shape': [len(names)], 'names': names},
        }
        for camera in self.cameras:
            features[IMAGE_PREFIX + camera] = {'dtype': 'video', 'shape': [height, width, 3],
                                               'names': ['height', 'width', 'channels']}
        return features

    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """meta/stats.json: per-feature min, max, mean, std, quantiles, count (images per channel, (3, 1, 1))."""
        def describe(x: np.ndarray, axes: tuple[int, ...], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
            q = np.quantile(x, [0.01, 0.10, 0.50, 0.90, 0.99], axis=axes)
            out = {'min': x.min(axes), 'max': x.max(axes), 'mean': x.mean(axes), 'std': x.std(axes),
                   **{name: q[i] for i, name in enumerate(('q01', 'q10', 'q50', 'q90', 'q99'))}}
            out = {k: np.asarray(v, dtype=np.float32).reshape(shape) for k, v in out.items()}
            out['count'] = np.array([len(self)])
            return out

        joints = len(JOINT_NAMES)
        stats = {STATE_KEY: describe(self.states[:, :-1].reshape(-1, joints), (0,), (joints,)),
                 ACTION_KEY: describe(self.states[:, 1:].reshape(-1, joints), (0,), (joints,))}
        for camera, frames in self.images.items():
            stats[IMAGE_PREFIX + camera] = describe(frames.transpose(2, 0, 1, 3, 4).reshape(3, -1), (1,), (3, 1, 1))
        return stats
