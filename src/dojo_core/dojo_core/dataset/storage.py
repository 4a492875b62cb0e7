"""File-level building blocks of crash safety: atomic publication and the single-writer lock.

A file that is part of the dataset is never modified in place: its new content is written to
a temporary file in the staging directory (same filesystem), flushed to disk, and renamed over
the old one, so a reader or a crash sees either the old or the new file, never a torn one. The
lock (`flock`, released by the kernel when the process dies, even by SIGKILL) keeps a second
writer or `repair` from touching a dataset that a live process is recording into.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dojo_core.dataset.format import EPISODES_DIR, INFO_PATH, STAGING_DIR, TASKS_PATH

LOCK_NAME = 'writer.lock'


class DatasetError(RuntimeError):
    """The directory is not a readable LeRobot v3.0 dataset."""


class DatasetLockedError(RuntimeError):
    """Another live process is writing to (or repairing) this dataset."""


class WriterLock:
    """Exclusive advisory lock on `<root>/.dojo_staging/writer.lock`."""

    def __init__(self, root: Path):
        self.path = Path(root) / STAGING_DIR / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatasetLockedError(f'{self.path.parent.parent} is open by another writer '
                                     f'(lock {self.path} is held)') from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def staging_dir(root: Path) -> Path:
    return Path(root) / STAGING_DIR


def staging_leftovers(root: Path) -> list[Path]:
    """Everything in the staging directory except the lock file (i.e. what a crash left)."""
    staging = staging_dir(root)
    if not staging.is_dir():
        return []
    return sorted(p for p in staging.iterdir() if p.name != LOCK_NAME)


def clear_staging(root: Path) -> list[Path]:
    """Delete what a crashed writer left in staging; returns what was removed."""
    removed = staging_leftovers(root)
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def temp_path(root: Path, suffix: str) -> Path:
    """A fresh path in staging for a file that will be published with `publish`."""
    staging = staging_dir(root)
    staging.mkdir(parents=True, exist_ok=True)
    return staging / f'tmp-{uuid.uuid4().hex}{suffix}'


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, target: Path) -> None:
    """Make `tmp` durable and atomically rename it to `target` (replacing any old file)."""
    _fsync(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    _fsync(target.parent, directory=True)


def write_json(root: Path, relpath: str, data: Any) -> None:
    tmp = temp_path(root, '.json')
    tmp.write_text(json.dumps(data, indent=4, ensure_ascii=False) + '\n', encoding='utf-8')
    publish(tmp, Path(root) / relpath)


def write_parquet(root: Path, relpath: str, table: pa.Table) -> int:
    """Publish a parquet file; returns its size in bytes."""
    tmp = temp_path(root, '.parquet')
    pq.write_table(table, tmp, compression='snappy')
    size = tmp.stat().st_size
    publish(tmp, Path(root) / relpath)
    return size


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise DatasetError(f'{path} is missing') from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f'{path} is not readable JSON: {exc}') from exc


def read_info(root: Path) -> dict[str, Any]:
    info = read_json(Path(root) / INFO_PATH)
    if not isinstance(info, dict) or 'features' not in info or 'fps' not in info:
        raise DatasetError(f'{Path(root) / INFO_PATH} has no "features"/"fps": not a LeRobot dataset')
    return info


def tasks_frame(tasks: dict[str, int]) -> pd.DataFrame:
    """LeRobot's tasks table: indexed by the task string (index name `task`), column `task_index`."""
    ordered = sorted(tasks.items(), key=lambda kv: kv[1])
    return pd.DataFrame({'task_index': np.array([i for _, i in ordered], dtype=np.int64)},
                        index=pd.Index([t for t, _ in ordered], name='task', dtype=object))


def write_tasks(root: Path, tasks: dict[str, int]) -> None:
    write_parquet(root, TASKS_PATH, pa.Table.from_pandas(tasks_frame(tasks), preserve_index=True))


def read_tasks(root: Path) -> dict[str, int]:
    path = Path(root) / TASKS_PATH
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise DatasetError(f'{path} is missing') from None
    return {str(task): int(index) for task, index in zip(frame.index, frame['task_index'])}


def episode_files(root: Path) -> list[Path]:
    """meta/episodes parquet files in episode order."""
    return sorted((Path(root) / EPISODES_DIR).glob('*/*.parquet'))


def read_episodes(root: Path) -> list[dict[str, Any]]:
    """All meta/episodes rows, in file order, as plain Python values."""
    rows: list[dict[str, Any]] = []
    for path in episode_files(root):
        try:
            rows.extend(pq.read_table(path).to_pylist())
        except (OSError, pa.ArrowException) as exc:
            raise DatasetError(f'{path} is not a readable parquet file: {exc}') from exc
    return rows
