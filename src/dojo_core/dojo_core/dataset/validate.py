"""Check every invariant of a LeRobot v3.0 dataset; returns precise problems, changes nothing.

Works on any v3.0 dataset (dojo's or lerobot's). Video files are decoded with PyAV to count
frames and read their timestamps rather than trusting container metadata. Each problem names
the file it is about, so `dojo dataset validate` can print them as they are.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dojo_core.dataset import stats as stats_mod
from dojo_core.dataset.format import (
    CODEBASE_VERSION, DATA_DIR, DEFAULT_FEATURES, INFO_PATH, MAX_CHUNKS_SIZE, QUANTILE_KEYS, STAGING_DIR,
    STAT_KEYS, STATS_PATH, TASKS_PATH, VIDEO_DIR, arrow_type, data_file_path, episode_video_columns,
    episodes_file_path,
    parquet_keys, stats_column, video_file_path, video_keys,
)
from dojo_core.dataset.storage import DatasetError, episode_files, read_info, read_json, staging_leftovers

INFO_KEYS = ('codebase_version', 'robot_type', 'total_episodes', 'total_frames', 'total_tasks', 'chunks_size',
             'data_files_size_in_mb', 'video_files_size_in_mb', 'fps', 'splits', 'data_path', 'video_path',
             'features')
EPISODE_COLUMNS = ('episode_index', 'tasks', 'length', 'data/chunk_index', 'data/file_index',
                   'dataset_from_index', 'dataset_to_index', 'meta/episodes/chunk_index', 'meta/episodes/file_index')
TIMESTAMP_TOLERANCE_S = 1e-6  # from/to_timestamp vs whole frames; LeRobot's decode tolerance is 1e-4


def validate(root: str | Path, *, decode_video: bool = True) -> list[str]:
    """All problems found in the dataset at `root` (empty: valid).

    decode_video=False counts video frames from the container instead of decoding (fast
    checks only; a full validation decodes).
    """
    checker = _Checker(Path(root), decode_video)
    checker.run()
    return checker.problems


def _first_mismatch(actual: np.ndarray, expected: np.ndarray) -> int | None:
    bad = np.flatnonzero(actual != expected)
    return int(bad[0]) if len(bad) else None


class _Checker:
    def __init__(self, root: Path, decode_video: bool):
        self.root = root
        self.decode_video = decode_video
        self.problems: list[str] = []
        self.info: dict[str, Any] = {}
        self.fps = 0
        self.features: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, int] | None = None
        self.episodes: list[dict[str, Any]] = []
        self.columns: dict[str, list[np.ndarray]] = defaultdict(list)  # data, for the stats check

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f'{where}: {message}')

    def run(self) -> None:
        if not self._check_info():
            return
        self._check_tasks()
        episodes_ok = self._check_episodes()
        if episodes_ok:
            self._check_data()
            for key in video_keys(self.features):
                self._check_video(key)
        self._check_stats(episodes_ok)
        leftovers = staging_leftovers(self.root)
        if leftovers:
            self.problem(STAGING_DIR, f'{len(leftovers)} leftover item(s) of an interrupted recording '
                         '(run `dojo dataset repair`)')

    # --- info.json ---------------------------------------------------------------------------

    def _check_info(self) -> bool:
        try:
            info = read_info(self.root)
        except DatasetError as exc:
            self.problems.append(str(exc))
            return False
        self.info = info
        missing = [k for k in INFO_KEYS if k not in info]
        if missing:
            self.problem(INFO_PATH, f'missing keys {missing}')
        if info.get('codebase_version') != CODEBASE_VERSION:
            self.problem(INFO_PATH, f'codebase_version is {info.get("codebase_version")!r}, expected {CODEBASE_VERSION!r}')
        fps = info.get('fps')
        if not isinstance(fps, int) or isinstance(fps, bool) or fps <= 0:
            self.problem(INFO_PATH, f'fps must be a positive integer, got {fps!r}')
            return False
        self.fps = fps
        chunks = info.get('chunks_size')
        if not isinstance(chunks, int) or not 1 <= chunks <= MAX_CHUNKS_SIZE:
            self.problem(INFO_PATH, f'chunks_size must be an integer in 1..{MAX_CHUNKS_SIZE}, got {chunks!r}')
        for key in ('data_files_size_in_mb', 'video_files_size_in_mb'):
            if not isinstance(info.get(key), (int, float)) or info.get(key) <= 0:
                self.problem(INFO_PATH, f'{key} must be a positive number, got {info.get(key)!r}')
        features = info.get('features')
        if not isinstance(features, dict):
            self.problem(INFO_PATH, 'features is not a mapping')
            return False
        ok = True
        for key, ft in features.items():
            ok &= self._check_feature(key, ft)
        for key, ft in DEFAULT_FEATURES.items():
            got = features.get(key)
            if not isinstance(got, dict) or got.get('dtype') != ft['dtype'] or list(got.get('shape', [])) != ft['shape']:
                self.problem(INFO_PATH, f'feature {key!r} must be {ft["dtype"]} shape {ft["shape"]}, got {got!r}')
                ok = False
        has_video = any(isinstance(ft, dict) and ft.get('dtype') == 'video' for ft in features.values())
        if has_video and not info.get('video_path'):
            self.problem(INFO_PATH, 'video_path is null but there are video features')
            ok = False
        if not isinstance(info.get('data_path'), str) or '{chunk_index' not in info.get('data_path', ''):
            self.problem(INFO_PATH, f'data_path {info.get("data_path")!r} is not a chunk/file template')
            ok = False
        self.features = features
        return ok

    def _check_feature(self, key: str, ft: Any) -> bool:
        if '/' in key:
            self.problem(INFO_PATH, f'feature name {key!r} contains "/"')
        if not isinstance(ft, dict) or not {'dtype', 'shape', 'names'} <= ft.keys():
            self.problem(INFO_PATH, f'feature {key!r} needs dtype, shape and names, got {ft!r}')
            return False
        shape = ft['shape']
        if not isinstance(shape, list) or not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            self.problem(INFO_PATH, f'feature {key!r} has invalid shape {shape!r}')
            return False
        if ft['dtype'] == 'video':
            if len(shape) != 3:
                self.problem(INFO_PATH, f'video feature {key!r} must have shape [height, width, channels], got {shape}')
                return False
            video_info = ft.get('info') or {}
            if video_info.get('video.fps') not in (None, self.fps):
                self.problem(INFO_PATH, f'video feature {key!r} has video.fps {video_info.get("video.fps")}, '
                             f'dataset fps is {self.fps}')
        elif ft['dtype'] == 'image':
            pass  # PNG frames inside parquet: a valid LeRobot dtype that dojo does not write
        else:
            try:
                np.dtype(ft['dtype'])
            except TypeError:
                self.problem(INFO_PATH, f'feature {key!r} has unknown dtype {ft["dtype"]!r}')
                return False
            if ft['names'] is not None and len(shape) == 1 and len(ft['names']) != shape[0]:
                self.problem(INFO_PATH, f'feature {key!r} has {len(ft["names"])} names for shape {shape}')
        return True

    # --- meta/tasks.parquet ------------------------------------------------------------------

    def _check_tasks(self) -> None:
        try:
            frame = pd.read_parquet(self.root / TASKS_PATH)
        except (OSError, ValueError, pa.ArrowException) as exc:
            self.problem(TASKS_PATH, f'unreadable: {exc}')
            return
        # lerobot >= 0.5 names the index "task", 0.4 left it unnamed; either loads.
        if frame.index.name not in ('task', None) or not all(isinstance(t, str) for t in frame.index):
            self.problem(TASKS_PATH, f'must be indexed by the task strings (index "task"), got index '
                         f'{frame.index.name!r} with values {list(frame.index)[:3]}')
        if 'task_index' not in frame.columns or not pd.api.types.is_integer_dtype(frame['task_index']):
            self.problem(TASKS_PATH, f'needs an integer column "task_index", has {dict(frame.dtypes.astype(str))}')
            return
        indices = sorted(int(i) for i in frame['task_index'])
        if indices != list(range(len(frame))):
            self.problem(TASKS_PATH, f'task_index values must be 0..{len(frame) - 1}, got {indices}')
        if frame.index.has_duplicates:
            self.problem(TASKS_PATH, f'duplicate tasks {sorted(set(frame.index[frame.index.duplicated()]))}')
        self.tasks = {str(t): int(i) for t, i in zip(frame.index, frame['task_index'])}
        if self.info.get('total_tasks') != len(frame):
            self.problem(INFO_PATH, f'total_tasks is {self.info.get("total_tasks")} but {TASKS_PATH} has {len(frame)}')

    # --- meta/episodes -----------------------------------------------------------------------

    def _check_episodes(self) -> bool:
        required = list(EPISODE_COLUMNS)
        for key in video_keys(self.features):
            required += episode_video_columns(key)
        for path in episode_files(self.root):
            rel = path.relative_to(self.root).as_posix()
            try:
                rows = pq.read_table(path).to_pylist()
            except (OSError, pa.ArrowException) as exc:
                self.problem(rel, f'unreadable parquet: {exc}')
                return False
            if rows and any(c not in rows[0] for c in required):
                self.problem(rel, f'missing columns {[c for c in required if c not in rows[0]]}')
                return False
            for row in rows:
                claimed = episodes_file_path(row['meta/episodes/chunk_index'], row['meta/episodes/file_index'])
                if claimed != rel:
                    self.problem(rel, f'episode {row["episode_index"]} says it is in {claimed}')
            self.episodes += rows
        n = len(self.episodes)
        if self.info.get('total_episodes') != n:
            self.problem(INFO_PATH, f'total_episodes is {self.info.get("total_episodes")} but meta/episodes has {n} rows')
        if self.info.get('splits') not in ([{'train': f'0:{n}'}] + ([{}] if n == 0 else [])):
            self.problem(INFO_PATH, f'splits is {self.info.get("splits")!r}, expected {{"train": "0:{n}"}}')
        ok = True
        expected_from = 0
        for position, ep in enumerate(self.episodes):
            where = f'meta/episodes episode {ep["episode_index"]}'
            if ep['episode_index'] != position:
                self.problem(where, f'is row {position}: episode_index must count 0, 1, 2, ... in file order')
                ok = False
            if ep['dataset_from_index'] != expected_from:
                self.problem(where, f'dataset_from_index is {ep["dataset_from_index"]}, expected {expected_from} '
                             '(the previous episode\'s dataset_to_index)')
                ok = False
            if ep['length'] <= 0 or ep['dataset_to_index'] - ep['dataset_from_index'] != ep['length']:
                self.problem(where, f'length {ep["length"]} does not match dataset_from/to_index '
                             f'{ep["dataset_from_index"]}..{ep["dataset_to_index"]}')
                ok = False
            expected_from = ep['dataset_to_index']
            if self.tasks is not None:
                unknown = [t for t in ep['tasks'] if t not in self.tasks]
                if unknown:
                    self.problem(where, f'tasks {unknown} are not in {TASKS_PATH}')
            self._check_episode_stats(where, ep)
        if self.info.get('total_frames') != expected_from:
            self.problem(INFO_PATH, f'total_frames is {self.info.get("total_frames")} but the episodes hold {expected_from}')
        return ok

    def _check_episode_stats(self, where: str, ep: dict[str, Any]) -> None:
        for feature, ft in self.features.items():
            for stat in STAT_KEYS:
                column = stats_column(feature, stat)
                if column not in ep:
                    self.problem(where, f'no per-episode stats column {column}')
                    return
                shape = np.shape(ep[column])
                expected = (1,) if stat == 'count' else self._stats_shape(ft)
                if expected is not None and shape != expected:
                    self.problem(where, f'{column} has shape {shape}, expected {expected}')
            count = ep.get(stats_column(feature, 'count'))
            if ft['dtype'] not in ('video', 'image') and count is not None and list(count) != [ep['length']]:
                self.problem(where, f'{stats_column(feature, "count")} is {count}, episode length is {ep["length"]}')

    @staticmethod
    def _stats_shape(ft: dict[str, Any]) -> tuple[int, ...] | None:
        if ft['dtype'] in ('video', 'image'):
            return (ft['shape'][2], 1, 1) if len(ft['shape']) == 3 else None
        return tuple(ft['shape'])

    # --- data parquet ------------------------------------------------------------------------

    def _check_data(self) -> None:
        by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ep in self.episodes:
            by_file[data_file_path(self.info, ep['data/chunk_index'], ep['data/file_index'])].append(ep)
        data_dir = self.root / DATA_DIR
        present = sorted(data_dir.glob('*/*.parquet')) if data_dir.is_dir() else []
        global_index = []
        for path in present:
            rel = path.relative_to(self.root).as_posix()
            if rel not in by_file:
                self.problem(rel, 'no episode references this data file (LeRobot would still load its rows)')
                continue
            table = self._read_data(rel, path)
            if table is not None:
                self._check_data_file(rel, table, by_file[rel])
                global_index.append(table.column('index').to_numpy())
        for rel in sorted(set(by_file) - {p.relative_to(self.root).as_posix() for p in present}):
            self.problem(rel, f'missing (episodes {[e["episode_index"] for e in by_file[rel]]} are in it)')
        if global_index and len(global_index) == len(present):
            index = np.concatenate(global_index)
            bad = _first_mismatch(index, np.arange(len(index)))
            if bad is not None:
                self.problem(DATA_DIR, f'rows of the data files in path order must have index 0, 1, 2, ... '
                             f'(LeRobot looks frames up by position); row {bad} has index {index[bad]}')

    def _read_data(self, rel: str, path: Path) -> pa.Table | None:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            self.problem(rel, f'unreadable parquet: {exc}')
            return None
        expected = parquet_keys(self.features)
        missing = [c for c in expected if c not in table.column_names]
        extra = [c for c in table.column_names if c not in expected]
        if missing or extra:
            self.problem(rel, f'columns do not match the features: missing {missing}, unexpected {extra}')
            if missing:
                return None
        for key in expected:
            if self.features[key]['dtype'] == 'image':
                continue
            got = table.schema.field(key).type
            want = arrow_type(self.features[key])
            if got != want and not (pa.types.is_list(got) and got.value_type == want.value_type):
                self.problem(rel, f'column {key} has type {got}, expected {want}')
        return table

    def _check_data_file(self, rel: str, table: pa.Table, episodes: list[dict[str, Any]]) -> None:
        expected_rows = sum(ep['length'] for ep in episodes)
        if table.num_rows != expected_rows:
            self.problem(rel, f'has {table.num_rows} rows, its episodes {[e["episode_index"] for e in episodes]} '
                         f'hold {expected_rows}')
            return
        index = np.concatenate([np.arange(e['dataset_from_index'], e['dataset_to_index']) for e in episodes])
        frame_index = np.concatenate([np.arange(e['length']) for e in episodes])
        episode_index = np.concatenate([np.full(e['length'], e['episode_index']) for e in episodes])
        checks = {'index': index, 'episode_index': episode_index, 'frame_index': frame_index}
        for column, expected in checks.items():
            actual = table.column(column).to_numpy()
            bad = _first_mismatch(actual, expected)
            if bad is not None:
                self.problem(rel, f'{column} at row {bad} is {actual[bad]}, expected {expected[bad]} '
                             f'({int(np.count_nonzero(actual != expected))} rows wrong)')
        timestamp = table.column('timestamp').to_numpy()
        expected_ts = (frame_index / self.fps).astype(np.float32)
        bad = _first_mismatch(timestamp, expected_ts)
        if bad is not None:
            self.problem(rel, f'timestamp at row {bad} is {float(timestamp[bad])!r}, expected frame_index/fps = '
                         f'{float(expected_ts[bad])!r} ({int(np.count_nonzero(timestamp != expected_ts))} rows wrong)')
        if self.tasks is not None:
            self._check_task_index(rel, table.column('task_index').to_numpy(), episodes)
        for key in parquet_keys(self.features):
            if self.features[key]['dtype'] == 'image':
                continue
            values = self._column_values(rel, table, key)
            if values is not None:
                self.columns[key].append(values)

    def _check_task_index(self, rel: str, task_index: np.ndarray, episodes: list[dict[str, Any]]) -> None:
        start = 0
        for ep in episodes:
            allowed = {self.tasks[t] for t in ep['tasks'] if t in self.tasks}
            rows = task_index[start:start + ep['length']]
            bad = [int(i) for i in np.unique(rows) if int(i) not in allowed]
            if bad:
                self.problem(rel, f'episode {ep["episode_index"]} has task_index {bad}, but its tasks '
                             f'{ep["tasks"]} are task_index {sorted(allowed)}')
            start += ep['length']

    def _column_values(self, rel: str, table: pa.Table, key: str) -> np.ndarray | None:
        column = table.column(key).combine_chunks()
        width = self.features[key]['shape'][0]
        if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type):
            lengths = pc_list_lengths(column)
            if np.any(lengths != width):
                self.problem(rel, f'column {key} has rows of length {sorted(set(lengths.tolist()))}, expected {width}')
                return None
            values = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), width)
        else:
            values = column.to_numpy(zero_copy_only=False).reshape(len(column), 1)
        if values.dtype.kind == 'f' and not np.all(np.isfinite(values)):
            row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
            self.problem(rel, f'column {key} has non-finite values (first at row {row})')
        return values

    # --- videos ------------------------------------------------------------------------------

    def _check_video(self, key: str) -> None:
        chunk_col, file_col, from_col, to_col = episode_video_columns(key)
        by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ep in self.episodes:
            by_file[video_file_path(self.info, key, ep[chunk_col], ep[file_col])].append(ep)
        video_dir = self.root / VIDEO_DIR / key
        for path in sorted(video_dir.glob('*/*.mp4')) if video_dir.is_dir() else []:
            rel = path.relative_to(self.root).as_posix()
            if rel not in by_file:
                self.problem(rel, 'no episode references this video file')
        for rel, episodes in by_file.items():
            frames = self._video_frames(key, rel)
            if frames is None:
                continue
            ranges = []
            for ep in episodes:
                where = f'meta/episodes episode {ep["episode_index"]} {key}'
                start = ep[from_col] * self.fps
                end = ep[to_col] * self.fps
                first = round(start)
                if abs(ep[from_col] - first / self.fps) > TIMESTAMP_TOLERANCE_S:
                    self.problem(where, f'from_timestamp {ep[from_col]!r} is not a whole frame at {self.fps} fps')
                if abs(ep[to_col] - (first + ep['length']) / self.fps) > TIMESTAMP_TOLERANCE_S:
                    self.problem(where, f'to_timestamp {ep[to_col]!r} is not from_timestamp + length/fps = '
                                 f'{(first + ep["length"]) / self.fps!r}')
                if round(end) > frames:
                    self.problem(where, f'needs frames {first}..{round(end) - 1} of {rel}, which has {frames}')
                ranges.append((first, first + ep['length'], ep['episode_index']))
            ranges.sort()
            for (_, end, a), (start, _, b) in zip(ranges, ranges[1:]):
                if start < end:
                    self.problem(rel, f'episodes {a} and {b} overlap in the video')

    def _video_frames(self, key: str, rel: str) -> int | None:
        """Frames in the file (decoded), after checking codec, size and pts = 0, 1, 2, ... frames."""
        path = self.root / rel
        if not path.exists():
            self.problem(rel, 'missing')
            return None
        ft = self.features[key]
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = 'AUTO'
                codec = stream.codec_context.codec.canonical_name
                expected_codec = (ft.get('info') or {}).get('video.codec')
                if expected_codec and expected_codec != codec:
                    self.problem(rel, f'codec is {codec}, info.json says {expected_codec}')
                if (stream.height, stream.width) != tuple(ft['shape'][:2]):
                    self.problem(rel, f'frames are {stream.height}x{stream.width}, feature shape is {ft["shape"]}')
                if self.decode_video:
                    pts = [f.pts for f in container.decode(stream)]
                else:
                    pts = [p.pts for p in container.demux(stream) if p.pts is not None]
                time_base = stream.time_base
        except (OSError, av.FFmpegError, IndexError) as exc:
            self.problem(rel, f'unreadable video: {exc}')
            return None
        frames = [None if p is None else p * time_base * self.fps for p in sorted(pts, key=lambda p: (p is None, p))]
        for n, frame in enumerate(frames):
            if frame is None or frame != n:
                shown = 'no timestamp' if frame is None else f'timestamp {float(frame / self.fps)!r} s'
                self.problem(rel, f'frame {n} has {shown}, expected {n / self.fps!r} s (pts must count frames)')
                break
        return len(frames)

    # --- stats.json --------------------------------------------------------------------------

    def _check_stats(self, episodes_ok: bool) -> None:
        path = self.root / STATS_PATH
        if not path.exists():
            if self.episodes:
                self.problem(STATS_PATH, 'missing')
            return
        try:
            stats = stats_mod.from_json(read_json(path))
        except (DatasetError, ValueError) as exc:
            self.problem(STATS_PATH, f'unreadable: {exc}')
            return
        total = sum(ep['length'] for ep in self.episodes)
        for feature, ft in self.features.items():
            got = stats.get(feature)
            if got is None:
                self.problem(STATS_PATH, f'no stats for feature {feature!r}')
                continue
            missing = [k for k in STAT_KEYS if k not in got]
            if missing:
                self.problem(STATS_PATH, f'{feature}: missing {missing}')
                continue
            shape = self._stats_shape(ft)
            bad_shapes = {k: v.shape for k, v in got.items() if k in STAT_KEYS and
                          v.shape != ((1,) if k == 'count' else shape) and shape is not None}
            if bad_shapes:
                self.problem(STATS_PATH, f'{feature}: shapes {bad_shapes}, expected {shape} (count (1,))')
                continue
            self._check_stat_values(feature, ft, got, total, episodes_ok)

    def _check_stat_values(self, feature: str, ft: dict[str, Any], got: stats_mod.Stats, total: int,
                           episodes_ok: bool) -> None:
        values = {k: np.asarray(v, dtype=np.float64) for k, v in got.items()}
        if not all(np.all(np.isfinite(v)) for v in values.values()):
            self.problem(STATS_PATH, f'{feature}: non-finite stats')
            return
        lo, hi = values['min'], values['max']
        slack = 1e-9 * np.maximum(1.0, np.abs(hi - lo))
        for key in ('mean', *QUANTILE_KEYS):
            if np.any(values[key] < lo - slack) or np.any(values[key] > hi + slack):
                self.problem(STATS_PATH, f'{feature}: {key} lies outside [min, max]')
        if np.any(values['std'] < 0):
            self.problem(STATS_PATH, f'{feature}: negative std')
        if ft['dtype'] in ('video', 'image'):
            if np.any(lo < 0) or np.any(hi > 1):
                self.problem(STATS_PATH, f'{feature}: image stats must be in [0, 1]')
            return
        if not episodes_ok or feature not in self.columns:
            return
        if int(values['count'][0]) != total:
            self.problem(STATS_PATH, f'{feature}: count is {int(values["count"][0])}, the dataset has {total} frames')
        data = np.concatenate(self.columns[feature]).astype(np.float64)
        if len(data) != total:
            return
        for key, actual in (('min', data.min(axis=0)), ('max', data.max(axis=0)), ('mean', data.mean(axis=0))):
            tolerance = 1e-6 * np.maximum(1.0, np.abs(actual))
            if np.any(np.abs(values[key] - actual) > tolerance):
                self.problem(STATS_PATH, f'{feature}: {key} is {values[key].tolist()}, the data gives {actual.tolist()}')


def pc_list_lengths(column: pa.Array) -> np.ndarray:
    """Length of every row of a list column (fixed-size lists included)."""
    if pa.types.is_fixed_size_list(column.type):
        return np.full(len(column), column.type.list_size)
    return np.diff(column.offsets.to_numpy())


def summarize(root: str | Path) -> dict[str, Any]:
    """Facts `dojo dataset info` prints (from metadata only; cheap)."""
    root = Path(root)
    info = read_info(root)
    files: dict[str, Sequence[Path]] = {'data': sorted((root / DATA_DIR).glob('*/*.parquet'))}
    for key in video_keys(info['features']):
        files[key] = sorted((root / VIDEO_DIR / key).glob('*/*.mp4'))
    return {
        'info': info,
        'files': {k: (len(v), sum(p.stat().st_size for p in v)) for k, v in files.items()},
        'meta_files': len(episode_files(root)),
    }
