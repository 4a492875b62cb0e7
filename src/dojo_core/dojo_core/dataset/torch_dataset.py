"""A torch Dataset over a LeRobot dataset, with lerobot's `delta_timestamps` windows.

Policies train on windows, not single frames: ACT wants a 100-step action chunk, Diffusion two
observation steps and a 16-64 step horizon. `delta_timestamps = {key: [seconds, ...]}` asks for
`key` at those offsets from each sample's time; offsets must be whole frames (within the
tolerance). A window never crosses into another episode: offsets past either end repeat the
episode's first or last frame and are flagged in `<key>_is_pad`, as in lerobot, so a policy can
mask them out of its loss.

Items follow lerobot's conventions so that training code written for it applies: tensors, camera
frames float32 (C, H, W) in [0, 1] (a window gives (T, C, H, W)), vectors (D,) or (T, D), scalars
0-d, plus the `task` string. Works with DataLoader workers: video decoders open lazily inside each
worker and are never pickled.

With a `FrameCache` (dojo_core.dataset.frame_cache; `dojo train` keeps one in <run>/frame_cache/
when the policy resizes its images), the cached cameras are read from its memory-mapped uint8
files instead of being decoded: same conventions, but at the cache's (smaller) size, as the
model would have resized them (within 0.5/255 rounding).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from dojo_core.dataset.frame_cache import FrameCache
from dojo_core.dataset.reader import LeRobotDatasetReader
from dojo_core.images import to_float_chw


def delta_frames(delta_timestamps: Mapping[str, Sequence[float]], fps: int,
                 tolerance_s: float = 1e-4) -> dict[str, np.ndarray]:
    """Offsets in seconds -> offsets in frames; refuses offsets that are not whole frames."""
    out = {}
    for key, deltas in delta_timestamps.items():
        seconds = np.asarray(deltas, dtype=np.float64)
        if seconds.ndim != 1 or seconds.size == 0:
            raise ValueError(f'delta_timestamps[{key!r}] must be a non-empty list of seconds')
        frames = np.round(seconds * fps)
        off = np.abs(seconds - frames / fps)
        if off.max() > tolerance_s:
            bad = float(seconds[int(off.argmax())])
            raise ValueError(f'delta_timestamps[{key!r}]: {bad} s is not a multiple of 1/{fps} s '
                             f'(within {tolerance_s} s)')
        out[key] = frames.astype(np.int64)
    return out


class LeRobotTorchDataset(torch.utils.data.Dataset):
    """Samples are the frames of the chosen episodes (all by default), in episode order.

    `source`: a dataset root or an open `LeRobotDatasetReader`. `keys`: the features to return
    (all by default; leave out cameras a policy does not use and they are never decoded).
    `episodes`: episode indices to sample from, e.g. a training split without held-out episodes.
    `frame_cache`: decoded frames of some cameras of this dataset, covering the chosen episodes;
    those cameras are read from it (at its size) instead of from the videos.
    """

    def __init__(self, source: str | os.PathLike | LeRobotDatasetReader,
                 delta_timestamps: Mapping[str, Sequence[float]] | None = None,
                 episodes: Sequence[int] | None = None, keys: Sequence[str] | None = None,
                 tolerance_s: float = 1e-4, frame_cache: FrameCache | None = None):
        self.reader = source if isinstance(source, LeRobotDatasetReader) else \
            LeRobotDatasetReader(source, tolerance_s=tolerance_s)
        features = self.reader.features
        self.keys = list(features) if keys is None else list(keys)
        unknown = [k for k in self.keys if k not in features]
        if unknown:
            raise KeyError(f'keys {unknown} are not features of the dataset ({", ".join(features)})')
        delta_timestamps = dict(delta_timestamps or {})
        outside = [k for k in delta_timestamps if k not in self.keys]
        if outside:
            raise KeyError(f'delta_timestamps keys {outside} are not among the returned keys')
        self.delta_frames = delta_frames(delta_timestamps, self.reader.fps, tolerance_s)
        by_index = {ep.index: ep for ep in self.reader.episodes}
        chosen = sorted(by_index) if episodes is None else list(episodes)
        missing = [e for e in chosen if e not in by_index]
        if missing:
            raise KeyError(f'episodes {missing} are not in the dataset (it has {len(by_index)})')
        self.episodes = [by_index[e] for e in chosen]
        self._frames = np.concatenate([np.arange(ep.frame_from, ep.frame_to) for ep in self.episodes]) \
            if self.episodes else np.zeros(0, dtype=np.int64)
        self.frame_cache = frame_cache
        self._cached: set[str] = set()
        if frame_cache is not None:
            if frame_cache.dataset_root != self.reader.root.resolve():
                raise ValueError(f'the frame cache in {frame_cache.directory} holds frames of '
                                 f'{frame_cache.dataset_root}, not of {self.reader.root.resolve()}')
            self._cached = {key for key in self.keys if key in frame_cache}
            uncovered = sorted(set(chosen) - set(frame_cache.episodes)) if self._cached else []
            if uncovered:
                raise ValueError(f'the frame cache in {frame_cache.directory} lacks episodes {uncovered}')

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | str]:
        index = int(self._frames[i])
        episode = self.reader.episode_of(index)
        item: dict[str, torch.Tensor | str] = {}
        for key in self.keys:
            offsets = self.delta_frames.get(key)
            if offsets is None:
                item[key] = self._tensor(key, self._read(key, [index])[0])
                continue
            wanted = index + offsets
            clamped = np.clip(wanted, episode.frame_from, episode.frame_to - 1)
            item[key] = self._tensor(key, self._read(key, clamped))
            item[f'{key}_is_pad'] = torch.from_numpy(wanted != clamped)
        item['task'] = self.reader.task(index)
        return item

    def _read(self, key: str, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        if key in self._cached:
            return self.frame_cache.read(key, indices)
        return self.reader.read(key, indices)

    def _tensor(self, key: str, values: np.ndarray) -> torch.Tensor:
        if key in self.reader.camera_keys:  # (..., H, W, 3) uint8 -> (..., 3, H, W) float in [0, 1]
            return to_float_chw(values)
        return torch.from_numpy(np.asarray(values))
