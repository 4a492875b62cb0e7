"""Create or resume the dataset a recording writes, refusing one that does not match the feature map.

Resuming is the normal case (one dataset, many sessions), so the recorder and the converter both
open an existing dataset when `root` holds one: DatasetWriter.open repairs what a killed writer
left, and the notes say what it did. Appending frames whose columns, rate or joint units differ
from what the dataset already holds would corrupt it silently, so that is refused with the
differences spelled out.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dojo_core.dataset import DatasetWriter, VideoEncoderConfig
from dojo_core.dataset.format import (
    DEFAULT_FEATURES, DEFAULT_VIDEO_FILES_SIZE_IN_MB, DOJO_INFO_KEY, FEATURE_MAP_KEY, INFO_PATH, check_features,
    video_keys,
)
from dojo_core.recording.features import dataset_units
from dojo_core.sync import FeatureMap

#: Where LeRobot keeps datasets by default (`$HF_LEROBOT_HOME/<repo_id>`).
LEROBOT_HOME = Path('~/.cache/huggingface/lerobot')


class RecordingError(RuntimeError):
    """A recording that cannot start or go on: dataset mismatch, no task, no episode to stop, ..."""


@dataclass(frozen=True)
class DatasetSettings:
    """Where and how to write. `robot_type` None takes the feature map's; `video` applies to new datasets
    (a resumed one keeps the encoder it was recorded with)."""

    root: Path
    repo_id: str
    robot_type: str | None = None
    video: VideoEncoderConfig = field(default_factory=VideoEncoderConfig)
    video_files_size_in_mb: float = DEFAULT_VIDEO_FILES_SIZE_IN_MB


@dataclass
class OpenedDataset:
    """A writer ready for episodes; `notes` are what the caller should log (repair actions, kept settings)."""

    writer: DatasetWriter
    notes: list[str]


def default_root(repo_id: str) -> Path:
    """LeRobot's default location of ``repo_id``: $HF_LEROBOT_HOME/<repo_id> (~/.cache/huggingface/lerobot)."""
    home = os.environ.get('HF_LEROBOT_HOME')
    return (Path(home) if home else LEROBOT_HOME).expanduser() / repo_id


def open_dataset(settings: DatasetSettings, features: FeatureMap) -> OpenedDataset:
    """Resume the dataset at ``settings.root`` (repairing it) or create it from ``features``.

    Raises RecordingError if an existing dataset's features, fps or units differ from the map's,
    and whatever DatasetWriter raises (DatasetLockedError when another writer holds it).
    """
    root = Path(settings.root)
    units = dataset_units(features)
    if not (root / INFO_PATH).exists():
        writer = DatasetWriter.create(
            root, settings.repo_id, features.fps, features.lerobot_features(),
            settings.robot_type or features.robot_type, video=settings.video, units=units,
            dojo_info={FEATURE_MAP_KEY: features.embedding()},
            video_files_size_in_mb=settings.video_files_size_in_mb)
        return OpenedDataset(writer, [f'created {root} ({settings.repo_id}, {features.fps} fps, {units})'])
    writer = DatasetWriter.open(root)
    try:
        problems = _mismatches(writer.info, features, units)
        if problems:
            raise RecordingError(f'{root} does not match the feature map, refusing to append: ' + '; '.join(problems))
    except BaseException:
        writer.close()
        raise
    notes = [f'resuming {root}: {writer.num_episodes} episodes, {writer.num_frames} frames']
    if writer.repair_report is not None and writer.repair_report.changed:
        notes += [f'repair: {action}' for action in writer.repair_report.actions]
    for key in video_keys(writer.features):
        kept = writer.features[key]['info'].get('video.encoder')
        if kept and kept != settings.video.codec:
            notes.append(f'{key}: the dataset is encoded with {kept}; new episodes use it too, not '
                         f'{settings.video.codec}')
    return OpenedDataset(writer, notes)


def _mismatches(info: dict[str, Any], features: FeatureMap, units: str) -> list[str]:
    problems = []
    if info['fps'] != features.fps:
        problems.append(f'fps is {info["fps"]}, the map says {features.fps}')
    stored_units = info.get(DOJO_INFO_KEY, {}).get('units')
    if stored_units is not None and stored_units != units:
        problems.append(f'joints are stored in {stored_units}, the map records {units}')
    have = {k: _columns(ft) for k, ft in info['features'].items() if k not in DEFAULT_FEATURES}
    want = {k: _columns(ft) for k, ft in check_features(features.lerobot_features()).items()}
    for key in want.keys() - have.keys():
        problems.append(f'no feature {key!r} in the dataset')
    for key in have.keys() - want.keys():
        problems.append(f'the dataset has feature {key!r}, the map does not')
    for key in want.keys() & have.keys():
        if want[key] != have[key]:
            problems.append(f'{key} is {have[key]} in the dataset, {want[key]} in the map')
    return sorted(problems)


def _columns(feature: dict[str, Any]) -> tuple[Any, ...]:
    return feature['dtype'], list(feature['shape']), feature.get('names')
