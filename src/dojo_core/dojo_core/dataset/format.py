"""LeRobot dataset v3.0: the constants and small pure functions that define the on-disk format.

Both the writer and the reader import from here so that a path template, a default feature or
the chunk/file arithmetic exists exactly once. Everything here is plain Python + numpy + pyarrow
types; nothing opens files. Readers should format paths with the templates stored in a dataset's
own info.json (`data_path`, `video_path`); the defaults below are what dojo writes.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

CODEBASE_VERSION = 'v3.0'

INFO_PATH = 'meta/info.json'
STATS_PATH = 'meta/stats.json'
TASKS_PATH = 'meta/tasks.parquet'
EPISODES_DIR = 'meta/episodes'
DATA_DIR = 'data'
VIDEO_DIR = 'videos'
CHUNK_FILE_PATTERN = 'chunk-{chunk_index:03d}/file-{file_index:03d}'
DEFAULT_EPISODES_PATH = EPISODES_DIR + '/' + CHUNK_FILE_PATTERN + '.parquet'
DEFAULT_DATA_PATH = DATA_DIR + '/' + CHUNK_FILE_PATTERN + '.parquet'
DEFAULT_VIDEO_PATH = VIDEO_DIR + '/{video_key}/' + CHUNK_FILE_PATTERN + '.mp4'
# Where dojo's writer keeps files that are not part of the dataset yet (video segments of the
# episode being recorded, temporary files before their atomic rename, the writer lock). No
# LeRobot reader looks here; `repair` empties it and `push_to_hub` never uploads it.
STAGING_DIR = '.dojo_staging'

DEFAULT_CHUNKS_SIZE = 1000  # files per chunk directory
MAX_CHUNKS_SIZE = 1000  # file-{:03d} must sort in write order, so a chunk holds at most 1000 files
DEFAULT_DATA_FILES_SIZE_IN_MB = 100
DEFAULT_VIDEO_FILES_SIZE_IN_MB = 200
MB = 1024 ** 2  # LeRobot's "MB" when it compares file sizes with the *_size_in_mb limits

# Columns every frame row carries; the writer fills them, callers never pass them.
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    'timestamp': {'dtype': 'float32', 'shape': [1], 'names': None},
    'frame_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'episode_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'task_index': {'dtype': 'int64', 'shape': [1], 'names': None},
}
VISUAL_DTYPES = ('video', 'image')
NUMERIC_DTYPES = ('float32', 'float64', 'int32', 'int64', 'bool')
IMAGE_NAMES = ['height', 'width', 'channels']

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f'q{round(q * 100):02d}' for q in QUANTILES)
STAT_KEYS = ('min', 'max', 'mean', 'std', 'count', *QUANTILE_KEYS)

# Extra info.json key for what LeRobot's schema has no place for (LeRobot ignores unknown keys).
DOJO_INFO_KEY = 'dojo'
#: info.json["dojo"][FEATURE_MAP_KEY]: {'yaml': the feature map the dataset was recorded with, 'sha256': its hash}
FEATURE_MAP_KEY = 'feature_map'
UNITS_RADIANS = 'radians'  # REP-103: every joint in rad (dojo's native convention)
UNITS_DEGREES = 'degrees'  # lerobot SO-101 `use_degrees=True`: arm joints in deg, gripper 0..100
UNITS = (UNITS_RADIANS, UNITS_DEGREES)


# --- chunk / file indices -------------------------------------------------------------------

def next_file_index(chunk_index: int, file_index: int, chunks_size: int) -> tuple[int, int]:
    """The (chunk, file) after this one: `chunks_size` files per chunk directory, then a new chunk."""
    if file_index >= chunks_size - 1:
        return chunk_index + 1, 0
    return chunk_index, file_index + 1


def data_file_path(info: Mapping[str, Any], chunk_index: int, file_index: int) -> str:
    return info['data_path'].format(chunk_index=chunk_index, file_index=file_index)


def video_file_path(info: Mapping[str, Any], video_key: str, chunk_index: int, file_index: int) -> str:
    return info['video_path'].format(video_key=video_key, chunk_index=chunk_index, file_index=file_index)


def episodes_file_path(chunk_index: int, file_index: int) -> str:
    return DEFAULT_EPISODES_PATH.format(chunk_index=chunk_index, file_index=file_index)


def frames_to_seconds(frames: int, fps: int) -> float:
    """Time of a frame count, computed once from integers (never by summing float durations)."""
    return frames / fps


# --- features -------------------------------------------------------------------------------

def video_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [k for k, ft in features.items() if ft['dtype'] == 'video']


def visual_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [k for k, ft in features.items() if ft['dtype'] in VISUAL_DTYPES]


def parquet_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Features stored as parquet columns, in column order (everything but videos)."""
    return [k for k, ft in features.items() if ft['dtype'] != 'video']


def episode_video_columns(video_key: str) -> tuple[str, str, str, str]:
    """meta/episodes columns locating one episode of one camera."""
    prefix = f'videos/{video_key}/'
    return (prefix + 'chunk_index', prefix + 'file_index', prefix + 'from_timestamp', prefix + 'to_timestamp')


def stats_column(feature: str, stat: str) -> str:
    return f'stats/{feature}/{stat}'


def vector_feature(names: Sequence[str], dtype: str = 'float32') -> dict[str, Any]:
    """A 1-D feature such as `observation.state` or `action`, one entry per name."""
    return {'dtype': dtype, 'shape': [len(names)], 'names': list(names)}


def scalar_feature(dtype: str) -> dict[str, Any]:
    """A per-frame scalar such as `next.reward` (float32) or `next.done` (bool)."""
    return {'dtype': dtype, 'shape': [1], 'names': None}


def video_feature(height: int, width: int) -> dict[str, Any]:
    """An RGB camera stored as mp4 (the `info` block is added by the writer from its encoder)."""
    return {'dtype': 'video', 'shape': [height, width, 3], 'names': list(IMAGE_NAMES)}


def joint_names(joints: Sequence[str], suffix: str = '.pos') -> list[str]:
    """LeRobot names of joint vector entries: `shoulder_pan` -> `shoulder_pan.pos`."""
    return [j + suffix for j in joints]


def check_features(features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Validate caller features (LeRobot info.json style) and return a normalised deep copy.

    Raises ValueError with the feature name on the first problem. The frame columns in
    DEFAULT_FEATURES are added by the writer and must not be passed.
    """
    if not features:
        raise ValueError('features is empty: a dataset needs at least one feature')
    out: dict[str, dict[str, Any]] = {}
    for key, ft in features.items():
        if not isinstance(key, str) or not key or '/' in key:
            raise ValueError(f'feature name {key!r} is invalid: names must be non-empty and contain no "/"')
        if key in DEFAULT_FEATURES:
            raise ValueError(f'feature {key!r} is added by the writer; do not pass it')
        if not isinstance(ft, Mapping) or 'dtype' not in ft or 'shape' not in ft:
            raise ValueError(f'feature {key!r} needs "dtype" and "shape", got {ft!r}')
        ft = copy.deepcopy(dict(ft))
        shape = [int(s) for s in ft['shape']]
        if not shape or any(s <= 0 for s in shape):
            raise ValueError(f'feature {key!r}: shape must be positive sizes, got {ft["shape"]!r}')
        ft['shape'] = shape
        dtype = ft['dtype']
        if dtype == 'image':
            raise ValueError(f'feature {key!r}: dtype "image" (PNG frames inside parquet) is not written by '
                             'dojo; use dtype "video"')
        if dtype == 'video':
            if len(shape) != 3 or shape[2] != 3:
                raise ValueError(f'feature {key!r}: a video must have shape [height, width, 3], got {shape}')
            if shape[0] % 2 or shape[1] % 2:
                raise ValueError(f'feature {key!r}: yuv420p video needs even height and width, got {shape}')
            ft['names'] = list(ft.get('names') or IMAGE_NAMES)
        elif dtype in NUMERIC_DTYPES:
            if len(shape) != 1:
                raise ValueError(f'feature {key!r}: numeric features must be 1-D, got shape {shape}')
            names = ft.get('names')
            if names is not None and len(names) != shape[0]:
                raise ValueError(f'feature {key!r}: {len(names)} names for shape {shape}')
            ft['names'] = list(names) if names is not None else None
        else:
            raise ValueError(f'feature {key!r}: unsupported dtype {dtype!r}; use one of '
                             f'{NUMERIC_DTYPES + ("video",)}')
        out[key] = ft
    return out


def arrow_type(feature: Mapping[str, Any]) -> pa.DataType:
    """The parquet column type LeRobot (HF `datasets`) uses: shape [1] -> scalar, [D] -> fixed list."""
    scalar = pa.from_numpy_dtype(np.dtype(feature['dtype']))
    shape = list(feature['shape'])
    if shape == [1]:
        return scalar
    return pa.list_(scalar, shape[0])


def data_schema(features: Mapping[str, Mapping[str, Any]]) -> pa.Schema:
    """Arrow schema of the data parquet files for these (complete) features."""
    return pa.schema([(k, arrow_type(features[k])) for k in parquet_keys(features)])
