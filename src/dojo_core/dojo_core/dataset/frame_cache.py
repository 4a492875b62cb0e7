"""Decoded-frame cache: every camera frame of the training episodes decoded once, resized, kept on disk.

A policy that looks at small images (ACT's cpu preset: 96x128) trains several times faster than
a DataLoader can decode 640x480 AV1 at random positions (each read seeks to a keyframe, decodes
forward and converts to RGB). So the frames are decoded once, in order (forward decoding, no
seeks), resized with the very op the model would apply to them (`resize_frames`: torch bilinear,
antialias, on float in [0, 1]) and stored as uint8 (N, H, W, 3) `.npy` files. Training then reads
them through `np.load(mmap_mode='r')`: DataLoader workers share the pages of the one file and
nothing is pickled in bulk. A cached image differs from the model resizing the decoded frame
itself only by the rounding to uint8 (at most 0.5/255).

Cache directory layout (the caller chooses the directory; `dojo train` uses <run>/frame_cache/):

    <key>.npy        one camera: rows are the frames of the cached episodes, in episode order
    manifest.json    written last (the commit point): dataset root, total_frames, a fingerprint of
                     the dataset files, keys, size, episodes
    .lock            flock held while a process checks or builds, so concurrent builders (torchrun
                     ranks on one machine) build once and the others reuse

Every file is written under a temporary name and renamed into place, and the manifest is removed
before a rebuild starts, so a killed build never leaves a cache that looks valid. A cache whose
manifest does not describe the requested keys, size, episodes and dataset exactly is rebuilt.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from dojo_core.dataset.format import INFO_PATH
from dojo_core.dataset.reader import Episode, LeRobotDatasetReader
from dojo_core.dataset.storage import publish
from dojo_core.dataset.video_decoder import VideoDecoder
from dojo_core.images import resize_image, to_float_chw

log = logging.getLogger(__name__)

MANIFEST = 'manifest.json'
LOCK = '.lock'
TMP_SUFFIX = '.tmp'
FORMAT_VERSION = 1  # bump when the cached content changes for the same manifest (e.g. another resize op)
CHUNK_FRAMES = 64  # frames decoded and resized at a time: bounded memory at full size (64 x 640x480x3 = 59 MB)


def resize_frames(frames: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """uint8 (N, H, W, 3) -> uint8 (N, size[0], size[1], 3), as the model resizes its float input.

    The model's own op (dojo_core.images.resize_image) on the same float values the torch
    dataset yields (dojo_core.images.to_float_chw), then rounded back to uint8. Frames already of that
    size are returned unchanged, as the model leaves them.
    """
    size = tuple(int(s) for s in size)
    if tuple(frames.shape[1:3]) == size:
        return frames
    y = resize_image(to_float_chw(frames), size)
    return y.mul_(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def dataset_fingerprint(reader: LeRobotDatasetReader, keys: Sequence[str], episodes: Sequence[Episode]) -> str:
    """Hash of (path, size, mtime) of the dataset files the cached frames come from.

    Covers meta/ (info.json, episodes, tasks, stats), the data files of the episodes (timestamps;
    PNG `image` features) and the videos of the cached keys: appending, repairing or re-recording
    the dataset changes at least one of them. Stat only, no reading: cheap on every start.
    """
    root = reader.root
    files = set((root / INFO_PATH).parent.rglob('*'))
    files.update(ep.data_path for ep in episodes)
    files.update(ep.videos[key].path for ep in episodes for key in keys if key in ep.videos)
    entries = []
    for path in sorted(p for p in files if p.is_file()):
        stat = path.stat()
        entries.append([str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
                        stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold the cache directory's lock (released by the kernel if the process dies)."""
    with open(directory / LOCK, 'a') as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info('frame cache: waiting for another process building %s', directory)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class FrameCache:
    """Resized uint8 frames of some cameras and episodes of one dataset, memory-mapped from `directory`.

    Get one with `FrameCache.open`, which reuses a valid cache or builds it. `read(key, indices)`
    takes global frame indices, like `LeRobotDatasetReader.read`, and returns (T, H, W, 3) uint8
    at the cache's `size`. Picklable for spawned DataLoader workers: the memory maps are not
    pickled but reopened in the worker.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any], episodes: Sequence[Episode], built: bool):
        self.directory = directory
        self.manifest = manifest
        self.built = built  # True when open() had to (re)build it, False when it reused a valid cache
        self._starts = np.array([ep.frame_from for ep in episodes], dtype=np.int64)
        self._lengths = np.array([ep.length for ep in episodes], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self._lengths)[:-1]]).astype(np.int64)
        self._arrays: dict[str, np.ndarray] = {}

    # --- opening and building -------------------------------------------------------------

    @classmethod
    def open(cls, reader: LeRobotDatasetReader, directory: str | os.PathLike, keys: Sequence[str],
             size: Sequence[int], episodes: Sequence[int] | None = None, *, progress: bool = True,
             tolerance_s: float = 1e-4, threads: int | None = None) -> FrameCache:
        """The cache of camera `keys` of `episodes` (all by default) resized to `size` = (H, W) in `directory`.

        Reuses the cache there when its manifest matches exactly (same dataset root and files,
        keys, size, episodes); otherwise decodes and writes it, with a tqdm bar unless
        `progress` is False. The directory belongs to the cache: a rebuild deletes the .npy files
        in it. `tolerance_s` is the reader's frame-time tolerance; `threads` the decoding threads
        per video (default: the CPU count, up to 4).
        """
        directory = Path(directory)
        size = [int(s) for s in size]
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f'size must be [height, width] of positive ints, got {size}')
        keys = sorted(dict.fromkeys(keys))
        if not keys:
            raise ValueError('a frame cache needs at least one camera key')
        not_cameras = [k for k in keys if k not in reader.camera_keys]
        if not_cameras:
            raise KeyError(f'{not_cameras} are not cameras of {reader.root} (cameras: {reader.camera_keys})')
        by_index = {ep.index: ep for ep in reader.episodes}
        chosen = sorted(by_index) if episodes is None else sorted(set(int(e) for e in episodes))
        missing = [e for e in chosen if e not in by_index]
        if missing:
            raise KeyError(f'episodes {missing} are not in {reader.root} (it has {len(by_index)})')
        chosen_episodes = [by_index[e] for e in chosen]
        wanted = {
            'format': FORMAT_VERSION, 'dataset_root': str(reader.root.resolve()), 'total_frames': reader.num_frames,
            'fingerprint': dataset_fingerprint(reader, keys, chosen_episodes), 'keys': keys, 'size': size,
            'episodes': chosen, 'frames': int(sum(ep.length for ep in chosen_episodes)),
        }
        directory.mkdir(parents=True, exist_ok=True)
        with _exclusive(directory):
            cache = cls(directory, wanted, chosen_episodes, built=False)
            if cache._is_valid():
                log.info('frame cache: reusing %s', directory)
                return cache
            cache.built = True
            cache._build(reader, chosen_episodes, progress, tolerance_s,
                         threads or min(4, os.cpu_count() or 1))
            return cache

    def _is_valid(self) -> bool:
        try:
            on_disk = json.loads((self.directory / MANIFEST).read_text())
        except (OSError, ValueError):
            return False
        if on_disk != self.manifest:
            return False
        try:
            arrays = {key: np.load(self._path(key), mmap_mode='r') for key in self.keys}
        except (OSError, ValueError):
            return False
        expected = (self.manifest['frames'], *self.size, 3)
        if any(a.dtype != np.uint8 or a.shape != expected for a in arrays.values()):
            return False
        self._arrays = arrays
        return True

    def _build(self, reader: LeRobotDatasetReader, episodes: Sequence[Episode], progress: bool,
               tolerance_s: float, threads: int) -> None:
        # The manifest goes first: from here on, nothing in the directory claims to be valid.
        (self.directory / MANIFEST).unlink(missing_ok=True)
        for path in self.directory.iterdir():
            if path.name.endswith(('.npy', TMP_SUFFIX)):
                path.unlink()
        frames = self.manifest['frames']
        log.info('frame cache: decoding %d frames x %d cameras of %s into %s at %dx%d', frames, len(self.keys),
                 reader.root, self.directory, *self.size)
        started = time.perf_counter()
        decoder = VideoDecoder(tolerance_s=tolerance_s, threads=threads)
        timestamps = reader.column('timestamp')
        try:
            with tqdm(total=frames * len(self.keys), disable=not progress, desc='frame cache', unit='frame',
                      dynamic_ncols=True) as bar:
                for key in self.keys:
                    tmp = self.directory / f'{self._path(key).name}{TMP_SUFFIX}'
                    out = np.lib.format.open_memmap(tmp, mode='w+', dtype=np.uint8, shape=(frames, *self.size, 3))
                    row = 0
                    for ep in episodes:
                        for start in range(ep.frame_from, ep.frame_to, CHUNK_FRAMES):
                            indices = np.arange(start, min(start + CHUNK_FRAMES, ep.frame_to))
                            if key in ep.videos:  # forward decoding: the decoder continues where it stopped
                                span = ep.videos[key]
                                decoded = decoder.frames(span.path, span.from_timestamp +
                                                         timestamps[indices].astype(np.float64))
                            else:  # PNG `image` feature in parquet
                                decoded = reader.read(key, indices)
                            out[row:row + len(indices)] = resize_frames(decoded, self.size)
                            row += len(indices)
                            bar.update(len(indices))
                    out.flush()
                    del out
                    publish(tmp, self._path(key))
        finally:
            decoder.close()
        tmp = self.directory / f'{MANIFEST}{TMP_SUFFIX}'
        tmp.write_text(json.dumps(self.manifest, indent=2) + '\n')
        publish(tmp, self.directory / MANIFEST)
        elapsed = time.perf_counter() - started
        log.info('frame cache: %d frames in %.1f s (%.0f frames/s)', frames * len(self.keys), elapsed,
                 frames * len(self.keys) / max(elapsed, 1e-9))

    # --- reading --------------------------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        return list(self.manifest['keys'])

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.manifest['size'])

    @property
    def episodes(self) -> list[int]:
        return list(self.manifest['episodes'])

    @property
    def dataset_root(self) -> Path:
        return Path(self.manifest['dataset_root'])

    @property
    def num_frames(self) -> int:
        """Cached frames per camera."""
        return int(self.manifest['frames'])

    def __contains__(self, key: object) -> bool:
        return key in self.manifest['keys']

    def read(self, key: str, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Camera `key` at global frame `indices` as (T, H, W, 3) uint8 (a copy, not a view of the file)."""
        if key not in self:
            raise KeyError(f'{key!r} is not cached (cached: {self.keys})')
        indices = np.asarray(indices, dtype=np.int64)
        positions = np.searchsorted(self._starts, indices, side='right') - 1
        clipped = np.maximum(positions, 0)
        inside = (positions >= 0) & (indices < self._starts[clipped] + self._lengths[clipped]) \
            if len(self._starts) else np.zeros(indices.shape, dtype=bool)
        if not inside.all():
            raise KeyError(f'frames {indices[~inside][:5].tolist()} are not in the cached episodes '
                           f'{self.episodes}')
        rows = self._offsets[clipped] + indices - self._starts[clipped]
        return np.asarray(self._array(key)[rows])

    def _array(self, key: str) -> np.ndarray:
        array = self._arrays.get(key)
        if array is None:
            array = self._arrays[key] = np.load(self._path(key), mmap_mode='r')
        return array

    def _path(self, key: str) -> Path:
        return self.directory / f'{key.replace(os.sep, "_")}.npy'

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state['_arrays'] = {}  # a spawned worker maps the files itself instead of receiving their bytes
        return state
