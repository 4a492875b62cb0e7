"""Bring a dataset back to its last committed state after a writer crashed or was killed.

The writer's commit point is the meta/episodes file (writer.py), so meta/episodes is the truth:
anything a crash left beyond it is an episode that was never saved, and is removed:

- files in the staging directory (video segments, temporary files);
- data rows and video frames appended after the last committed episode of a file, and data or
  video files that no committed episode references (a save that had started a new file);
- tasks only such an episode introduced;
- and info.json / stats.json are recomputed from meta/episodes when they disagree (a crash
  between the commit and their rewrite).

Nothing committed is ever touched; if a committed episode's rows or frames are missing the
dataset was damaged by something else and `RepairError` says what, without changing anything.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dojo_core.dataset import stats as stats_mod
from dojo_core.dataset.format import (
    DATA_DIR, INFO_PATH, STAGING_DIR, STATS_PATH, VIDEO_DIR, data_file_path, episode_video_columns,
    video_file_path, video_keys,
)
from dojo_core.dataset.storage import (
    DatasetError, WriterLock, clear_staging, publish, read_episodes, read_info, read_json, read_tasks,
    staging_dir, staging_leftovers, temp_path, write_json, write_parquet, write_tasks,
)
from dojo_core.dataset.video_encoder import Piece, concatenate, container_frame_count

log = logging.getLogger(__name__)


class RepairError(DatasetError):
    """The dataset lost committed data; repair cannot restore it and changed nothing."""


@dataclass
class RepairReport:
    root: Path
    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def add(self, action: str) -> None:
        log.warning('repair %s: %s', self.root, action)
        self.actions.append(action)

    def __str__(self) -> str:
        if not self.actions:
            return f'{self.root}: nothing to repair'
        return f'{self.root}: ' + '; '.join(self.actions)


def repair(root: str | Path) -> RepairReport:
    """Repair a dataset that no live writer holds (raises DatasetLockedError otherwise)."""
    root = Path(root)
    if not (root / INFO_PATH).exists():
        raise DatasetError(f'{root} has no {INFO_PATH}: not a dataset')
    with WriterLock(root):
        report = repair_locked(root)
        if not staging_leftovers(root):
            (staging_dir(root) / 'writer.lock').unlink(missing_ok=True)
            staging_dir(root).rmdir()
    return report


def repair_locked(root: Path) -> RepairReport:
    """`repair` for a caller that already holds the writer lock."""
    root = Path(root)
    report = RepairReport(root)
    info = read_info(root)
    episodes = read_episodes(root)
    for position, episode in enumerate(episodes):
        if episode.get('episode_index') != position:
            raise RepairError(f'meta/episodes row {position} has episode_index {episode.get("episode_index")}')
    # Decide everything before changing anything, so that a RepairError leaves the dataset as is.
    plans = [_plan_data(root, info, episodes)]
    plans += [_plan_video(root, info, key, episodes) for key in video_keys(info['features'])]
    removed = clear_staging(root)
    if removed:
        report.add(f'removed {len(removed)} unsaved item(s) from {STAGING_DIR}/ '
                   f'({", ".join(p.name for p in removed)})')
    for plan in plans:
        for action in plan:
            action(report)
    _repair_tasks(root, episodes, report)
    _repair_metadata(root, info, episodes, report)
    return report


def _files(directory: Path, pattern: str) -> list[Path]:
    return sorted(directory.glob(pattern)) if directory.is_dir() else []


def _plan_data(root: Path, info: dict[str, Any], episodes: list[dict[str, Any]]) -> list:
    expected: dict[str, int] = {}
    for ep in episodes:
        rel = data_file_path(info, ep['data/chunk_index'], ep['data/file_index'])
        expected[rel] = expected.get(rel, 0) + int(ep['length'])
    actions = []
    present = set()
    for path in _files(root / DATA_DIR, '*/*.parquet'):
        rel = path.relative_to(root).as_posix()
        present.add(rel)
        if rel not in expected:
            actions.append(_delete(path, 'data file of an unsaved episode'))
            continue
        try:
            rows = pq.read_metadata(path).num_rows
        except (OSError, pa.ArrowException) as exc:
            raise RepairError(f'{rel} holds saved episodes but is unreadable: {exc}') from exc
        if rows < expected[rel]:
            raise RepairError(f'{rel} has {rows} rows but its saved episodes need {expected[rel]}')
        if rows > expected[rel]:
            actions.append(_truncate_data(root, rel, expected[rel], rows))
    for rel in sorted(set(expected) - present):
        raise RepairError(f'{rel} is missing but holds saved episodes')
    return actions


def _plan_video(root: Path, info: dict[str, Any], key: str, episodes: list[dict[str, Any]]) -> list:
    fps = int(info['fps'])
    chunk_col, file_col, _, to_col = episode_video_columns(key)
    expected: dict[str, int] = {}
    for ep in episodes:
        rel = video_file_path(info, key, ep[chunk_col], ep[file_col])
        expected[rel] = max(expected.get(rel, 0), round(ep[to_col] * fps))
    actions = []
    present = set()
    for path in _files(root / VIDEO_DIR / key, '*/*.mp4'):
        rel = path.relative_to(root).as_posix()
        present.add(rel)
        if rel not in expected:
            actions.append(_delete(path, 'video file of an unsaved episode'))
            continue
        try:
            frames = container_frame_count(path)
        except (OSError, av.FFmpegError) as exc:
            raise RepairError(f'{rel} holds saved episodes but is unreadable: {exc}') from exc
        if frames < expected[rel]:
            raise RepairError(f'{rel} has {frames} frames but its saved episodes need {expected[rel]}')
        if frames > expected[rel]:
            actions.append(_truncate_video(root, rel, expected[rel], frames, fps))
    for rel in sorted(set(expected) - present):
        raise RepairError(f'{rel} is missing but holds saved episodes')
    return actions


def _delete(path: Path, why: str):
    def run(report: RepairReport) -> None:
        path.unlink()
        report.add(f'deleted {path.relative_to(report.root).as_posix()} ({why})')
    return run


def _truncate_data(root: Path, rel: str, keep: int, rows: int):
    def run(report: RepairReport) -> None:
        write_parquet(root, rel, pq.read_table(root / rel).slice(0, keep))
        report.add(f'cut {rel} from {rows} to {keep} rows (rows of an unsaved episode)')
    return run


def _truncate_video(root: Path, rel: str, keep: int, frames: int, fps: int):
    def run(report: RepairReport) -> None:
        tmp = temp_path(root, '.mp4')
        concatenate([Piece(root / rel, frames=keep)], tmp, fps)
        publish(tmp, root / rel)
        report.add(f'cut {rel} from {frames} to {keep} frames (frames of an unsaved episode)')
    return run


def _repair_tasks(root: Path, episodes: list[dict[str, Any]], report: RepairReport) -> None:
    tasks = read_tasks(root)
    used = {t for ep in episodes for t in ep['tasks']}
    unknown = sorted(used - set(tasks))
    if unknown:
        raise RepairError(f'saved episodes use tasks missing from meta/tasks.parquet: {unknown}')
    last = max((tasks[t] for t in used), default=-1)
    keep = {t: i for t, i in tasks.items() if i <= last}
    if keep != tasks:
        write_tasks(root, keep)
        report.add(f'dropped task(s) only unsaved episodes used: {sorted(set(tasks) - set(keep))}')


def _repair_metadata(root: Path, info: dict[str, Any], episodes: list[dict[str, Any]],
                     report: RepairReport) -> None:
    n = len(episodes)
    totals = {'total_episodes': n, 'total_frames': sum(int(ep['length']) for ep in episodes),
              'total_tasks': len(read_tasks(root)), 'splits': {'train': f'0:{n}'} if n else {}}
    if any(info.get(k) != v for k, v in totals.items()):
        old = {k: info.get(k) for k in totals}
        info.update(totals)
        write_json(root, INFO_PATH, info)
        report.add(f'rewrote {INFO_PATH} totals from meta/episodes: {old} -> {totals}')
    stats_path = root / STATS_PATH
    if n == 0:
        if stats_path.exists():
            stats_path.unlink()
            report.add(f'deleted {STATS_PATH} (no saved episodes)')
        return
    wanted = stats_mod.aggregate_features(stats_mod.from_episode_columns(ep) for ep in episodes)
    try:
        current = stats_mod.from_json(read_json(stats_path))
    except DatasetError:
        current = None
    if current is None or not _same_counts(current, wanted):
        write_json(root, STATS_PATH, stats_mod.to_json(wanted))
        report.add(f'recomputed {STATS_PATH} from the {n} saved episodes')


def _same_counts(a: dict[str, stats_mod.Stats], b: dict[str, stats_mod.Stats]) -> bool:
    """Whether stats.json covers the same frames as the episodes (a crash leaves it an episode short).

    Only counts are compared: other writers merge quantiles by other rules (lerobot 0.4 averages
    them), which is no reason to rewrite their stats.
    """
    return a.keys() == b.keys() and all(
        np.array_equal(np.ravel(a[f].get('count', [])), np.ravel(b[f]['count'])) for f in a)
