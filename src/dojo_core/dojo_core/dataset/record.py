"""The record of the dataset a policy was trained on (`dataset.json` in the run and in every checkpoint).

Training writes it; the serving side reads it to rebuild the observation mapping without the
dataset at hand: fps, the features with their element names, and the dataset's `dojo` block of
info.json (joint units, and the feature map the dataset was recorded with, which is the
checkpoint's serving contract: dojo_core.serving.contract).
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dojo_core.dataset.format import DEFAULT_FEATURES, DOJO_INFO_KEY
from dojo_core.dataset.reader import LeRobotDatasetReader

DATASET_RECORD = 'dataset.json'


@dataclass(frozen=True)
class DatasetRecord:
    """The dataset a policy was trained on, as far as running the policy needs to know it."""

    path: str
    repo_id: str | None
    fps: int
    robot_type: str | None
    features: dict[str, dict[str, Any]]  # info.json features (dtype, shape, names), bookkeeping columns left out
    dojo: dict[str, Any]  # info.json["dojo"]: units ('radians' | 'degrees'), repo_id
    episodes: list[int] | None  # training episodes; None = all
    total_episodes: int
    total_frames: int

    @property
    def units(self) -> str | None:
        """'radians' or 'degrees' for dojo datasets; None for datasets that do not say (e.g. lerobot's)."""
        return self.dojo.get('units')

    @classmethod
    def of(cls, reader: LeRobotDatasetReader, episodes: Sequence[int] | None = None) -> DatasetRecord:
        dojo = dict(reader.info.get(DOJO_INFO_KEY) or {})
        return cls(path=str(reader.root.resolve()), repo_id=dojo.get('repo_id'), fps=reader.fps,
                   robot_type=reader.info.get('robot_type'), features=policy_relevant(reader.features), dojo=dojo,
                   episodes=None if episodes is None else [int(e) for e in episodes],
                   total_episodes=reader.num_episodes, total_frames=reader.num_frames)

    def write(self, directory: str | Path) -> Path:
        path = Path(directory) / DATASET_RECORD
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2) + '\n')
        return path

    @classmethod
    def read(cls, path: str | Path) -> DatasetRecord:
        data = json.loads(Path(path).read_text())
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})


def read_dataset_record(path: str | Path) -> DatasetRecord:
    """The dataset record of a run: `path` is a pretrained_model/ dir, a checkpoint dir or the run dir."""
    path = Path(path)
    for directory in (path, *list(path.parents)[:3]):
        if (directory / DATASET_RECORD).is_file():
            return DatasetRecord.read(directory / DATASET_RECORD)
    raise FileNotFoundError(f'no {DATASET_RECORD} in {path} or the training run it belongs to')


def policy_relevant(features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """info.json features without the bookkeeping columns, reduced to what running a policy needs."""
    return {name: {'dtype': ft['dtype'], 'shape': list(ft['shape']), 'names': ft.get('names')}
            for name, ft in features.items() if name not in DEFAULT_FEATURES}
