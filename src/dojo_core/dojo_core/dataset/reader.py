"""Read LeRobot datasets (v3.0, and v2.1 through `v21.py`): metadata, frames by global index.

The reader follows the dataset's own info.json (path templates, features, fps) rather than dojo's
writer defaults, so it reads what lerobot writes as well as what dojo writes. All non-video
columns are loaded into numpy arrays at open (a million frames of state + action is tens of MB),
which makes random access to them an array lookup; camera frames are decoded on demand, only for
the keys asked for, by `VideoDecoder` (frame-exact by presentation time).

A dataset whose metadata disagrees with its data (a writer killed mid-episode, a hand-edited
file) is refused with a message that says what disagrees, never read half right.
"""
from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from dojo_core.dataset.format import (STATS_PATH, data_file_path, episode_video_columns, parquet_keys,
                                      video_file_path, video_keys, visual_keys)
from dojo_core.dataset.stats import Stats, from_json
from dojo_core.dataset.storage import DatasetError, episode_files, read_info, read_json, read_tasks
from dojo_core.dataset.video_decoder import VideoDecoder

READABLE_VERSIONS = ('v3.0', 'v2.1')


@dataclass(frozen=True)
class VideoSpan:
    """One episode of one camera: the mp4 holding it and when its first frame is presented there."""

    path: Path
    from_timestamp: float


@dataclass(frozen=True)
class Episode:
    """One episode: its frames are the global indices `frame_from .. frame_from + length - 1`."""

    index: int
    length: int
    tasks: tuple[str, ...]
    frame_from: int
    data_path: Path
    videos: Mapping[str, VideoSpan] = field(default_factory=dict)

    @property
    def frame_to(self) -> int:
        """One past the last global frame index (LeRobot's `dataset_to_index`)."""
        return self.frame_from + self.length

    @property
    def frames(self) -> range:
        return range(self.frame_from, self.frame_to)


@dataclass(frozen=True)
class DatasetMeta:
    """Everything a dataset's meta/ directory says, in one layout-independent form."""

    info: dict[str, Any]
    tasks: dict[int, str]  # task_index -> task
    episodes: list[Episode]  # by episode index
    stats: dict[str, Stats]


def load_meta(root: Path) -> DatasetMeta:
    """Read meta/ of a v3.0 or v2.1 dataset."""
    info = read_info(root)
    version = info.get('codebase_version')
    if version == 'v3.0':
        meta = _load_v30_meta(root, info)
    elif version == 'v2.1':
        from dojo_core.dataset.v21 import load_v21_meta  # v21 builds on this module's types
        meta = load_v21_meta(root, info)
    else:
        raise DatasetError(f'{root}: codebase_version {version!r} is not readable; '
                           f'supported: {", ".join(READABLE_VERSIONS)}')
    if len(meta.episodes) != info['total_episodes']:
        raise DatasetError(f'{root}: info.json says {info["total_episodes"]} episodes but the episode '
                           f'metadata lists {len(meta.episodes)} (was the writer stopped before finishing?)')
    return meta


def _load_v30_meta(root: Path, info: dict[str, Any]) -> DatasetMeta:
    tasks = {index: task for task, index in read_tasks(root).items()}
    rows = []
    cameras = video_keys(info['features'])
    needed = ['episode_index', 'tasks', 'length', 'data/chunk_index', 'data/file_index', 'dataset_from_index']
    needed += [column for key in cameras for column in episode_video_columns(key)[:3]]
    for path in episode_files(root):
        try:
            names = pq.ParquetFile(path).schema_arrow.names
            # Per-episode stats columns are skipped: they are bulky and the dataset stats cover them.
            rows += pq.read_table(path, columns=[n for n in names if not n.startswith('stats/')]).to_pylist()
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f'{path} is not a readable parquet file: {exc}') from exc
        missing = [column for column in needed if column not in names]
        if missing:
            raise DatasetError(f'{path} lacks the episode columns {missing}')
    rows.sort(key=lambda row: row['episode_index'])
    episodes = []
    for row in rows:
        videos = {}
        for key in cameras:
            chunk, file, from_ts, _ = episode_video_columns(key)
            videos[key] = VideoSpan(root / video_file_path(info, key, row[chunk], row[file]), float(row[from_ts]))
        episodes.append(Episode(
            index=int(row['episode_index']), length=int(row['length']), tasks=tuple(row['tasks']),
            frame_from=int(row['dataset_from_index']),
            data_path=root / data_file_path(info, row['data/chunk_index'], row['data/file_index']),
            videos=videos))
    stats_path = root / STATS_PATH
    stats = from_json(read_json(stats_path)) if stats_path.is_file() else {}
    return DatasetMeta(info=info, tasks=tasks, episodes=episodes, stats=stats)


def _column_to_numpy(column: pa.ChunkedArray, feature: Mapping[str, Any]) -> np.ndarray:
    """A parquet column as (N, *shape) numpy, with shape-[1] features as plain (N,) arrays."""
    array = column.combine_chunks()
    n = len(array)
    while pa.types.is_list(array.type) or pa.types.is_large_list(array.type) or \
            pa.types.is_fixed_size_list(array.type):
        array = array.flatten()
    values = array.to_numpy(zero_copy_only=False)
    shape = tuple(feature['shape'])
    return values.reshape(n) if shape == (1,) else values.reshape(n, *shape)


class LeRobotDatasetReader:
    """Random access to the frames of a LeRobot dataset on disk.

    `reader[i]` (or `frame(i, keys)`) gives frame i (global index) as a dict of numpy arrays:
    vectors (D,), scalars as numpy scalars, camera images (H, W, 3) uint8 and the `task` string.
    `read(key, indices)` gives one key for many frames at once, stacked.
    """

    def __init__(self, root: str | os.PathLike, tolerance_s: float = 1e-4):
        self.root = Path(root)
        meta = load_meta(self.root)
        self.info = meta.info
        self.tasks = meta.tasks
        self.episodes = meta.episodes
        self.stats = meta.stats
        self.fps: int = int(self.info['fps'])
        self.features: dict[str, dict[str, Any]] = self.info['features']
        self.video_keys = video_keys(self.features)
        self.camera_keys = visual_keys(self.features)
        self._episode_starts = np.array([ep.frame_from for ep in self.episodes], dtype=np.int64)
        self._columns = self._load_columns()
        self._decoder = VideoDecoder(tolerance_s=tolerance_s)

    # --- metadata -------------------------------------------------------------------------

    @property
    def num_frames(self) -> int:
        return len(self._columns['index'])

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    def __len__(self) -> int:
        return self.num_frames

    def episode_of(self, index: int) -> Episode:
        """The episode holding global frame `index`."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f'frame index must be in [0, {self.num_frames}), got {index}')
        return self.episodes[self._episode_positions(np.array([index]))[0]]

    def task(self, index: int) -> str:
        return self.tasks[int(self._columns['task_index'][index])]

    def column(self, key: str) -> np.ndarray:
        """A non-camera feature over all frames, (N, *shape) (read-only view)."""
        if key in self.camera_keys:
            raise KeyError(f'{key!r} is a camera; use read() to decode its frames')
        values = self._columns[key].view()
        values.flags.writeable = False
        return values

    # --- frames ---------------------------------------------------------------------------

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.frame(index)

    def frame(self, index: int, keys: Sequence[str] | None = None) -> dict[str, Any]:
        """Frame `index` (global): the requested features (all by default) and its task."""
        item = {key: self.read(key, [index])[0] for key in (self.features if keys is None else keys)}
        item['task'] = self.task(index)
        return item

    def read(self, key: str, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Feature `key` at global frame `indices`, stacked along a new first axis."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_frames):
            raise IndexError(f'frame indices must be in [0, {self.num_frames}), got {indices.min()}..{indices.max()}')
        if key in self.video_keys:
            return self._read_video(key, indices)
        if key not in self._columns:
            raise KeyError(f'{key!r} is not a feature of {self.root} (features: {", ".join(self.features)})')
        if self.features[key]['dtype'] == 'image':
            return np.stack([_decode_image(self._columns[key][i]) for i in indices])
        return self._columns[key][indices]

    def _read_video(self, key: str, indices: np.ndarray) -> np.ndarray:
        positions = self._episode_positions(indices)
        timestamps = self._columns['timestamp'][indices].astype(np.float64)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        for position in np.unique(positions):
            selected = np.flatnonzero(positions == position)
            span = self.episodes[position].videos[key]
            parts.append((selected, self._decoder.frames(span.path, span.from_timestamp + timestamps[selected])))
        frames = np.empty((len(indices), *parts[0][1].shape[1:]), dtype=np.uint8)
        for selected, images in parts:
            frames[selected] = images
        return frames

    def _episode_positions(self, indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._episode_starts, indices, side='right') - 1

    # --- loading --------------------------------------------------------------------------

    def _load_columns(self) -> dict[str, Any]:
        keys = parquet_keys(self.features)
        paths = list(dict.fromkeys(ep.data_path for ep in self.episodes))
        tables = []
        for path in paths:
            if not path.is_file():
                raise DatasetError(f'{self.root}: data file {path} is missing')
            try:
                tables.append(pq.read_table(path, columns=keys))
            except (OSError, pa.ArrowException) as exc:
                raise DatasetError(f'{path} is not a readable parquet file: {exc}') from exc
        if not tables:
            raise DatasetError(f'{self.root}: the dataset has no episodes')
        table = pa.concat_tables(tables).sort_by('index')
        columns: dict[str, Any] = {}
        for key in keys:
            if self.features[key]['dtype'] == 'image':
                columns[key] = table.column(key).combine_chunks()  # PNG bytes, decoded per access
            else:
                columns[key] = _column_to_numpy(table.column(key), self.features[key])
        self._check_frames(columns)
        return columns

    def _check_frames(self, columns: Mapping[str, np.ndarray]) -> None:
        n = len(columns['index'])
        lengths = [ep.length for ep in self.episodes]
        expected_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        if n != sum(lengths) or n != self.info['total_frames']:
            raise DatasetError(f'{self.root}: {n} frame rows, episode lengths sum to {sum(lengths)}, '
                               f'info.json total_frames is {self.info["total_frames"]}')
        if not np.array_equal(columns['index'], np.arange(n)):
            raise DatasetError(f'{self.root}: the index column is not 0..{n - 1} without gaps')
        if not np.array_equal(self._episode_starts, expected_starts):
            raise DatasetError(f'{self.root}: episode frame ranges do not follow each other in episode order')
        owners = np.repeat([ep.index for ep in self.episodes], lengths)
        if not np.array_equal(columns['episode_index'], owners):
            bad = int(np.flatnonzero(columns['episode_index'] != owners)[0])
            raise DatasetError(f'{self.root}: frame {bad} has episode_index {columns["episode_index"][bad]} '
                               f'but the episode metadata puts it in episode {owners[bad]}')
        unknown = set(np.unique(columns['task_index']).tolist()) - set(self.tasks)
        if unknown:
            raise DatasetError(f'{self.root}: frames use task_index {sorted(unknown)} missing from the tasks')


def _decode_image(cell: pa.StructScalar) -> np.ndarray:
    """An `image` feature cell (HF datasets' {bytes, path} struct holding a PNG) as (H, W, 3) uint8."""
    data = cell['bytes'].as_py()
    if data is None:
        raise DatasetError(f'image cell has no embedded bytes (path {cell["path"].as_py()!r})')
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert('RGB'))
