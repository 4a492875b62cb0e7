"""Metadata of LeRobot v2.1 datasets (lerobot <= 0.3.3), in the reader's layout-independent form.

v2.1 keeps one parquet and one mp4 per episode (`chunks_size` episodes per chunk directory) and its
metadata in JSON lines: episodes.jsonl (index, tasks, length), tasks.jsonl, episodes_stats.jsonl.
Each episode's video starts at t = 0 and its global frame range follows from the lengths of the
episodes before it. Dataset stats are the merge of the per-episode stats (v2.1 has no quantiles);
a v2.0-style meta/stats.json is used when there are no per-episode stats.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dojo_core.dataset.format import STATS_PATH, video_keys
from dojo_core.dataset.reader import DatasetMeta, Episode, VideoSpan
from dojo_core.dataset.stats import aggregate_features, from_json
from dojo_core.dataset.storage import DatasetError, read_json

EPISODES_PATH = 'meta/episodes.jsonl'
TASKS_PATH = 'meta/tasks.jsonl'
EPISODES_STATS_PATH = 'meta/episodes_stats.jsonl'


def _json_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetError(f'{path} is missing')
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError as exc:
        raise DatasetError(f'{path} is not JSON lines: {exc}') from exc


def load_v21_meta(root: Path, info: dict[str, Any]) -> DatasetMeta:
    tasks = {int(row['task_index']): str(row['task']) for row in _json_lines(root / TASKS_PATH)}
    cameras = video_keys(info['features'])
    chunks_size = int(info['chunks_size'])
    episodes = []
    frame_from = 0
    for row in sorted(_json_lines(root / EPISODES_PATH), key=lambda r: r['episode_index']):
        index = int(row['episode_index'])
        chunk = index // chunks_size
        videos = {key: VideoSpan(root / info['video_path'].format(episode_chunk=chunk, video_key=key,
                                                                  episode_index=index), 0.0)
                  for key in cameras}
        data_path = root / info['data_path'].format(episode_chunk=chunk, episode_index=index)
        episodes.append(Episode(index=index, length=int(row['length']), tasks=tuple(row['tasks']),
                                frame_from=frame_from, data_path=data_path, videos=videos))
        frame_from += int(row['length'])
    if (root / EPISODES_STATS_PATH).is_file():
        stats = aggregate_features(from_json(row['stats']) for row in _json_lines(root / EPISODES_STATS_PATH))
    elif (root / STATS_PATH).is_file():
        stats = from_json(read_json(root / STATS_PATH))
    else:
        stats = {}
    return DatasetMeta(info=info, tasks=tasks, episodes=episodes, stats=stats)
