"""Record LeRobot v3.0 datasets: frames in, crash-safe episodes out.

    writer = DatasetWriter.create(root, 'me/pick_cube', fps=30, features=features, robot_type='so101')
    for each step: writer.add_frame({'observation.state': q, 'action': a, 'observation.images.front': rgb},
                                    task='pick the cube')
    writer.save_episode()            # or writer.discard_episode()
    writer.close()

How an episode is saved (the commit protocol). Camera frames are encoded while recording into
per-episode segments in the staging directory (video_encoder.py); numeric features stay in
memory. `save_episode` then publishes, each step an atomic replace of a whole file (storage.py):
tasks.parquet (if the episode brought a new task), the data file (its rows so far + this
episode's), each camera's video file (stream-copy of the committed frames + the segment), and
the meta/episodes file with the episode's row. That last rename is the commit point; stats.json
and info.json follow and are derived data that `repair` recomputes from meta/episodes. A crash
before the commit leaves only unreferenced rows/frames at the end of the newest files, which
LeRobot never indexes and `repair` (run by `DatasetWriter.open`) cuts away; nothing referenced
by metadata is ever half-written. Files stay below the configured sizes by starting a new file
when the next episode would pass the limit (an episode never spans two files); a resumed dataset
always starts new files. The cost of a save is one rewrite of the current data and video files,
which grows with their size (bounded by the *_size_in_mb limits).
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dojo_core.dataset import stats as stats_mod
from dojo_core.dataset.format import (
    CODEBASE_VERSION, DEFAULT_CHUNKS_SIZE, DEFAULT_DATA_FILES_SIZE_IN_MB, DEFAULT_DATA_PATH,
    DEFAULT_FEATURES, DEFAULT_VIDEO_FILES_SIZE_IN_MB, DEFAULT_VIDEO_PATH, DOJO_INFO_KEY, INFO_PATH,
    MAX_CHUNKS_SIZE, MB, STATS_PATH, TASKS_PATH, UNITS, UNITS_RADIANS, check_features, data_file_path,
    data_schema, episode_video_columns, episodes_file_path, frames_to_seconds, next_file_index,
    parquet_keys, video_file_path, video_keys,
)
from dojo_core.dataset.repair import RepairReport, repair_locked
from dojo_core.dataset.storage import (
    DatasetError, WriterLock, clear_staging, episode_files, publish, read_info, read_json, read_tasks, staging_dir,
    staging_leftovers, temp_path, write_json, write_parquet, write_tasks,
)
from dojo_core.dataset.video_encoder import (
    Piece, Segment, SegmentEncoder, VideoEncoderConfig, VideoEncodingError, concatenate,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpisodeSummary:
    """What `save_episode` wrote (paths relative to the dataset root)."""

    episode_index: int
    length: int
    fps: int
    tasks: tuple[str, ...]
    dataset_from_index: int
    dataset_to_index: int
    data_file: str
    video_files: dict[str, str]
    save_seconds: float  # wall time of the save_episode call

    @property
    def duration_s(self) -> float:
        return self.length / self.fps


@dataclass(frozen=True)
class _Cursor:
    """Where the next episode of one file series goes and what that file holds already."""

    chunk: int = 0
    file: int = 0
    count: int = 0  # frames (data, video) or rows (meta/episodes) committed in the file
    size: int = 0  # bytes of the committed file

    def for_next(self, extra_bytes: float, limit_mb: float, chunks_size: int) -> _Cursor:
        """This file, or a fresh one if adding `extra_bytes` would reach the size limit."""
        if self.count and self.size + extra_bytes >= limit_mb * MB:
            return _Cursor(*next_file_index(self.chunk, self.file, chunks_size))
        return self

    def after_resume(self, chunks_size: int) -> _Cursor:
        return _Cursor(*next_file_index(self.chunk, self.file, chunks_size))


@dataclass
class _Episode:
    """The episode being recorded."""

    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)
    encoders: dict[str, SegmentEncoder] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    segment_dir: Path | None = None  # in staging, holds this episode's video segments
    error: str | None = None

    @property
    def frames(self) -> int:
        return len(self.tasks)


class DatasetWriter:
    """Writes one LeRobot v3.0 dataset; use `create` or `open`, from a single thread."""

    def __init__(self, root: Path, info: dict[str, Any], lock: WriterLock, *, queue_size: int,
                 put_timeout_s: float, repair_report: RepairReport | None = None):
        self.root = Path(root)
        self._info = info
        self._lock = lock
        self._queue_size = queue_size
        self._put_timeout_s = put_timeout_s
        self.repair_report = repair_report
        self._features: dict[str, dict[str, Any]] = info['features']
        self._user_keys = [k for k in self._features if k not in DEFAULT_FEATURES]
        self._video_keys = video_keys(self._features)
        self._video_configs = {k: VideoEncoderConfig.from_info(self._features[k]['info']) for k in self._video_keys}
        self._tasks = read_tasks(self.root)
        stats_path = self.root / STATS_PATH
        self._stats = stats_mod.from_json(read_json(stats_path)) if stats_path.exists() else None
        self._num_episodes = int(info['total_episodes'])
        self._num_frames = int(info['total_frames'])
        self._data = _Cursor()
        self._meta = _Cursor()
        self._videos = {k: _Cursor() for k in self._video_keys}
        self._data_tables: list[pa.Table] = []
        self._meta_rows: list[dict[str, Any]] = []
        self._episode = _Episode()
        self._dirty = False  # a save failed: files may hold rows/frames no metadata references
        self._closed = False
        if self._num_episodes:
            self._resume_cursors()

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def create(cls, root: str | os.PathLike, repo_id: str, fps: int, features: Mapping[str, Mapping[str, Any]],
               robot_type: str | None = None, *, video: VideoEncoderConfig | None = None,
               units: str = UNITS_RADIANS, dojo_info: Mapping[str, Any] | None = None,
               chunks_size: int = DEFAULT_CHUNKS_SIZE, data_files_size_in_mb: float = DEFAULT_DATA_FILES_SIZE_IN_MB,
               video_files_size_in_mb: float = DEFAULT_VIDEO_FILES_SIZE_IN_MB,
               queue_size: int = 30, put_timeout_s: float = 10.0) -> DatasetWriter:
        """Start a new dataset in `root` (which must not exist or be empty).

        `features`: LeRobot info.json style, e.g. {'observation.state': {'dtype': 'float32',
        'shape': [6], 'names': [...]}, 'observation.images.front': {'dtype': 'video', 'shape':
        [480, 640, 3]}}; timestamp/frame_index/episode_index/index/task_index are added. `units`
        is recorded as info.json["dojo"]["units"] (the writer stores values as given; dojo_core.sync.JointUnits,
        the one units converter, gives lerobot's SO-101 degree convention); `dojo_info` adds
        to that block (the recorder stores the feature map there, which training embeds in checkpoints).
        """
        if isinstance(fps, bool) or int(fps) != fps or fps <= 0:
            raise ValueError(f'fps must be a positive integer (LeRobot stores it as int), got {fps!r}')
        if units not in UNITS:
            raise ValueError(f'units must be one of {UNITS}, got {units!r}')
        if not 1 <= chunks_size <= MAX_CHUNKS_SIZE:
            raise ValueError(f'chunks_size must be in 1..{MAX_CHUNKS_SIZE}, got {chunks_size}')
        if data_files_size_in_mb <= 0 or video_files_size_in_mb <= 0:
            raise ValueError('data_files_size_in_mb and video_files_size_in_mb must be positive')
        fps = int(fps)
        video = video or VideoEncoderConfig()
        features = check_features(features)
        for key in video_keys(features):
            height, width, _ = features[key]['shape']
            features[key]['info'] = video.info(height, width, fps)
        features.update(copy.deepcopy(DEFAULT_FEATURES))
        root = Path(root)
        if root.exists() and not _is_blank(root):
            raise FileExistsError(f'{root} exists and is not empty; use DatasetWriter.open to add episodes')
        root.mkdir(parents=True, exist_ok=True)
        info = {
            'codebase_version': CODEBASE_VERSION,
            'robot_type': robot_type,
            'total_episodes': 0,
            'total_frames': 0,
            'total_tasks': 0,
            'chunks_size': chunks_size,
            'data_files_size_in_mb': data_files_size_in_mb,
            'video_files_size_in_mb': video_files_size_in_mb,
            'fps': fps,
            'splits': {},
            'data_path': DEFAULT_DATA_PATH,
            'video_path': DEFAULT_VIDEO_PATH if video_keys(features) else None,
            'features': features,
            DOJO_INFO_KEY: {**(dojo_info or {}), 'units': units, 'repo_id': repo_id},
        }
        lock = WriterLock(root).acquire()
        try:
            clear_staging(root)  # what a killed `create` left
            write_tasks(root, {})
            write_json(root, INFO_PATH, info)  # last: a directory with info.json is a dataset
            return cls(root, info, lock, queue_size=queue_size, put_timeout_s=put_timeout_s)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def open(cls, root: str | os.PathLike, *, queue_size: int = 30, put_timeout_s: float = 10.0) -> DatasetWriter:
        """Resume a dataset: repair what a crash left (see `repair_report`), then append episodes.

        New episodes go to new data, video and meta/episodes files; existing files are kept.
        """
        root = Path(root)
        if not (root / INFO_PATH).exists():
            raise DatasetError(f'{root} has no {INFO_PATH}: not a dataset (use DatasetWriter.create)')
        lock = WriterLock(root).acquire()
        try:
            report = repair_locked(root)
            info = read_info(root)
            if info.get('codebase_version') != CODEBASE_VERSION:
                raise DatasetError(f'{root} is LeRobot {info.get("codebase_version")}; dojo appends to '
                                   f'{CODEBASE_VERSION} datasets only')
            images = [k for k, ft in info['features'].items() if ft['dtype'] == 'image']
            if images:
                raise DatasetError(f'{root} stores {images} as PNG images in parquet, which dojo does not write')
            return cls(root, info, lock, queue_size=queue_size, put_timeout_s=put_timeout_s,
                       repair_report=report)
        except BaseException:
            lock.release()
            raise

    def _resume_cursors(self) -> None:
        last = read_last_episode(self.root)
        chunks = self.chunks_size
        self._data = _Cursor(last['data/chunk_index'], last['data/file_index']).after_resume(chunks)
        self._meta = _Cursor(last['meta/episodes/chunk_index'], last['meta/episodes/file_index']).after_resume(chunks)
        for key in self._video_keys:
            chunk_col, file_col, _, _ = episode_video_columns(key)
            self._videos[key] = _Cursor(last[chunk_col], last[file_col]).after_resume(chunks)

    # --- properties --------------------------------------------------------------------------

    @property
    def fps(self) -> int:
        return int(self._info['fps'])

    @property
    def chunks_size(self) -> int:
        return int(self._info['chunks_size'])

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self._features)

    @property
    def info(self) -> dict[str, Any]:
        return copy.deepcopy(self._info)

    @property
    def video_keys(self) -> list[str]:
        return list(self._video_keys)

    @property
    def num_episodes(self) -> int:
        """Saved episodes."""
        return self._num_episodes

    @property
    def num_frames(self) -> int:
        """Saved frames over all episodes."""
        return self._num_frames

    @property
    def episode_frames(self) -> int:
        """Frames added to the episode being recorded."""
        return self._episode.frames

    # --- recording ---------------------------------------------------------------------------

    def add_frame(self, frame: Mapping[str, Any], task: str) -> None:
        """Append one frame (every feature given at create, no more) to the current episode.

        Raises ValueError for a bad frame (nothing is recorded then) and VideoEncodingError when
        a camera's encoder failed or cannot keep up (the episode can then only be discarded).
        """
        self._check_open()
        values = self._checked_frame(frame)
        if not isinstance(task, str) or not task:
            raise ValueError(f'task must be a non-empty string, got {task!r}')
        ep = self._episode
        if ep.error:
            raise VideoEncodingError(f'episode {self._num_episodes} is unusable ({ep.error}); discard_episode()')
        if ep.frames == 0:
            self._start_encoders()
        try:
            for key in self._video_keys:
                ep.encoders[key].put(values[key])
        except VideoEncodingError as exc:
            ep.error = str(exc)
            raise
        for key in self._user_keys:
            if key not in self._video_keys:
                ep.columns.setdefault(key, []).append(values[key])
        ep.tasks.append(task)

    def _checked_frame(self, frame: Mapping[str, Any]) -> dict[str, np.ndarray]:
        missing = [k for k in self._user_keys if k not in frame]
        extra = [k for k in frame if k not in self._user_keys]
        if missing or extra:
            raise ValueError(f'frame keys do not match the features: missing {missing}, unexpected {extra}')
        out = {}
        for key in self._user_keys:
            ft = self._features[key]
            value = np.asarray(frame[key])
            if ft['dtype'] == 'video':
                if value.dtype != np.uint8 or value.shape != tuple(ft['shape']):
                    raise ValueError(f'{key}: expected a uint8 RGB image of shape {tuple(ft["shape"])}, '
                                     f'got {value.dtype} {value.shape}')
            else:
                shape = tuple(ft['shape'])
                if shape == (1,) and value.shape == ():
                    value = value.reshape(1)
                if value.shape != shape:
                    raise ValueError(f'{key}: expected shape {shape}, got {value.shape}')
                target = np.dtype(ft['dtype'])
                if not np.can_cast(value.dtype, target, casting='same_kind'):
                    raise ValueError(f'{key}: cannot store {value.dtype} values as {target}')
                value = value.astype(target)
            out[key] = value
        return out

    def _start_encoders(self) -> None:
        if not self._video_keys:
            return
        segment_dir = self._episode.segment_dir = staging_dir(self.root) / f'episode-{self._num_episodes:06d}'
        segment_dir.mkdir(parents=True, exist_ok=True)
        for key in self._video_keys:
            height, width, _ = self._features[key]['shape']
            self._episode.encoders[key] = SegmentEncoder(
                key, segment_dir / f'{key}.mp4', self.fps, height, width, self._video_configs[key],
                queue_size=self._queue_size, put_timeout_s=self._put_timeout_s)

    def discard_episode(self) -> int:
        """Drop the episode being recorded (its video segments are deleted); returns its frames."""
        self._check_open()
        frames = self._episode.frames
        self._reset_episode()
        return frames

    def _reset_episode(self) -> None:
        ep = self._episode
        for encoder in ep.encoders.values():
            if encoder.name not in ep.segments:
                encoder.cancel()
        if ep.segment_dir is not None:
            shutil.rmtree(ep.segment_dir, ignore_errors=True)
        self._episode = _Episode()

    def save_episode(self) -> EpisodeSummary:
        """Publish the current episode (see module docstring); returns what was written.

        If this raises before the episode is committed (e.g. OSError: disk full), nothing the
        metadata references has changed; call save_episode again or discard_episode.
        """
        self._check_open()
        start = time.perf_counter()
        ep = self._episode
        if ep.frames == 0:
            raise RuntimeError('save_episode: the episode has no frames')
        if ep.error:
            raise VideoEncodingError(f'episode {self._num_episodes} cannot be saved ({ep.error}); discard_episode()')
        try:
            for encoder in ep.encoders.values():
                encoder.end_input()  # all cameras flush in parallel
            for key, encoder in ep.encoders.items():
                if key not in ep.segments:
                    ep.segments[key] = encoder.finish()
        except VideoEncodingError as exc:
            ep.error = str(exc)
            raise
        try:
            summary = self._publish(ep, start)
        except BaseException:
            self._dirty = True
            raise
        return summary

    def _publish(self, ep: _Episode, start: float) -> EpisodeSummary:
        n = ep.frames
        index = self._num_episodes
        first = self._num_frames
        fps = self.fps
        tasks = dict(self._tasks)
        for task in ep.tasks:
            tasks.setdefault(task, len(tasks))
        episode_tasks = list(dict.fromkeys(ep.tasks))

        columns = self._frame_columns(ep, index, first, tasks)
        episode_stats = {k: stats_mod.numeric_stats(v) for k, v in columns.items()}
        for key in self._video_keys:
            episode_stats[key] = ep.segments[key].stats
        episode_stats = {k: episode_stats[k] for k in self._features}  # info.json feature order

        if len(tasks) > len(self._tasks):
            write_tasks(self.root, tasks)

        # data file
        table = self._frame_table(columns)
        per_frame = self._data.size / self._data.count if self._data.count else 0.0
        data = self._data.for_next(per_frame * n, self._info['data_files_size_in_mb'], self.chunks_size)
        data_tables = (self._data_tables if data == self._data else []) + [table]
        data_rel = data_file_path(self._info, data.chunk, data.file)
        data_size = write_parquet(self.root, data_rel, pa.concat_tables(data_tables))
        data = replace(data, count=data.count + n, size=data_size)

        # video files
        videos: dict[str, _Cursor] = {}
        video_rel: dict[str, str] = {}
        row_videos: dict[str, Any] = {}
        for key in self._video_keys:
            cursor, rel = self._publish_video(key, ep.segments[key])
            chunk_col, file_col, from_col, to_col = episode_video_columns(key)
            row_videos.update({chunk_col: cursor.chunk, file_col: cursor.file,
                               from_col: frames_to_seconds(cursor.count, fps),
                               to_col: frames_to_seconds(cursor.count + n, fps)})
            videos[key] = replace(cursor, count=cursor.count + n)
            video_rel[key] = rel

        # meta/episodes: the commit
        per_row = self._meta.size / self._meta.count if self._meta.count else 0.0
        meta = self._meta.for_next(per_row, self._info['data_files_size_in_mb'], self.chunks_size)
        row = {'episode_index': index, 'tasks': episode_tasks, 'length': n,
               'data/chunk_index': data.chunk, 'data/file_index': data.file,
               'dataset_from_index': first, 'dataset_to_index': first + n, **row_videos,
               **stats_mod.to_episode_columns(episode_stats),
               'meta/episodes/chunk_index': meta.chunk, 'meta/episodes/file_index': meta.file}
        meta_rows = (self._meta_rows if meta == self._meta else []) + [row]
        meta_size = write_parquet(self.root, episodes_file_path(meta.chunk, meta.file), pa.Table.from_pylist(meta_rows))

        # committed: bring the in-memory state along before anything else can fail
        self._tasks = tasks
        self._data, self._data_tables = data, data_tables
        self._meta, self._meta_rows = replace(meta, count=meta.count + 1, size=meta_size), meta_rows
        self._videos.update(videos)
        self._num_episodes += 1
        self._num_frames += n
        self._stats = (stats_mod.aggregate_features([self._stats, episode_stats]) if self._stats
                       else episode_stats)
        self._reset_episode()
        self._write_derived_metadata()
        return EpisodeSummary(index, n, fps, tuple(episode_tasks), first, first + n, data_rel, video_rel,
                              time.perf_counter() - start)

    def _publish_video(self, key: str, segment: Segment) -> tuple[_Cursor, str]:
        """Append a segment to the camera's file (or start a new one); returns where it went."""
        cursor = self._videos[key].for_next(segment.size, self._info['video_files_size_in_mb'], self.chunks_size)
        rel = video_file_path(self._info, key, cursor.chunk, cursor.file)
        target = self.root / rel
        tmp = temp_path(self.root, '.mp4')
        if cursor.count == 0:
            try:
                os.link(segment.path, tmp)  # keep the segment: a failed save can be retried
            except OSError:  # a filesystem without hard links (exFAT, some network mounts)
                shutil.copyfile(segment.path, tmp)
        else:
            concatenate([Piece(target, frames=cursor.count), Piece(segment.path, offset=cursor.count)],
                        tmp, self.fps)
        size = tmp.stat().st_size
        publish(tmp, target)
        return replace(cursor, size=size), rel

    def _frame_columns(self, ep: _Episode, index: int, first: int, tasks: dict[str, int]) -> dict[str, np.ndarray]:
        """Every parquet column of the episode as a numpy array, in feature order."""
        n = ep.frames
        frame_index = np.arange(n, dtype=np.int64)
        generated = {
            'timestamp': (frame_index / self.fps).astype(np.float32),
            'frame_index': frame_index,
            'episode_index': np.full(n, index, dtype=np.int64),
            'index': np.arange(first, first + n, dtype=np.int64),
            'task_index': np.array([tasks[t] for t in ep.tasks], dtype=np.int64),
        }
        out = {}
        for key in parquet_keys(self._features):
            if key in generated:
                out[key] = generated[key]
            else:
                out[key] = np.stack(ep.columns[key]).astype(self._features[key]['dtype'])
        return out

    def _frame_table(self, columns: dict[str, np.ndarray]) -> pa.Table:
        schema = data_schema(self._features)
        arrays = []
        for name in schema.names:
            values = columns[name]
            if values.ndim == 2 and self._features[name]['shape'] != [1]:
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1]))
            else:
                arrays.append(pa.array(values.reshape(len(values))))
        return pa.Table.from_arrays(arrays, schema=schema)

    def _write_derived_metadata(self) -> None:
        self._info.update(total_episodes=self._num_episodes, total_frames=self._num_frames,
                          total_tasks=len(self._tasks), splits={'train': f'0:{self._num_episodes}'})
        try:
            write_json(self.root, STATS_PATH, stats_mod.to_json(self._stats))
            write_json(self.root, INFO_PATH, self._info)
        except OSError as exc:
            exc.add_note(f'episode {self._num_episodes - 1} IS saved; stats.json/info.json are rewritten by '
                         'the next save_episode or by repair')
            raise

    # --- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Discard an unsaved episode (logged), tidy the staging directory and release the lock."""
        if self._closed:
            return
        try:
            if self._episode.frames or self._episode.encoders:
                log.warning('closing %s: discarding the unsaved episode (%d frames)', self.root,
                            self._episode.frames)
            self._reset_episode()
            if self._dirty:
                for action in repair_locked(self.root).actions:
                    log.warning('closing %s: %s', self.root, action)
            if not staging_leftovers(self.root):
                shutil.rmtree(staging_dir(self.root), ignore_errors=True)
        finally:
            self._lock.release()
            self._closed = True

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f'the writer for {self.root} is closed')


def _is_blank(root: Path) -> bool:
    """Empty, or holding only what a `create` killed before writing info.json leaves."""
    leftovers = {p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file()}
    leftovers = {p for p in leftovers if not p.startswith(staging_dir(root).name + '/')}
    return leftovers <= {TASKS_PATH}


def read_last_episode(root: Path) -> dict[str, Any]:
    """The last meta/episodes row (only the last file is read)."""
    files = episode_files(root)
    if not files:
        raise DatasetError(f'{root} has no meta/episodes files')
    table = pq.read_table(files[-1])
    return table.slice(table.num_rows - 1).to_pylist()[0]
