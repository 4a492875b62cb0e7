"""Expert demonstrations straight from the SimCell into a LeRobot dataset, without ROS.

Through ROS, pick_place_expert drives sim_node and recorder_node writes what the feature map
(config/features/*.yaml) names; that runs in real time on a DDS graph. Here `run_episode` steps
the cell as fast as it goes and its `on_step` hook writes one frame per dataset tick, with exactly
the features the same map gives the recorder (names, shapes, units: `FeatureMap.lerobot_features`)
and the same meaning: observation.state the measured joint positions at the tick, action the joint
targets sent at that tick (after the cell's clamping, i.e. what joint_commands carried), the
cameras rendered at the tick. Datasets from both paths can therefore be mixed or swapped for
training. Only successful episodes are kept; failures are discarded and reported.

Episode k of a call is seeded `seed + k` (as pick_place_expert does), attempts continuing with the
next seed after a failure, so the seeds in the summary identify every saved scene.
"""
from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dojo_core.dataset import VideoEncoderConfig
from dojo_core.cell_features import CellFeatures, periods_per_frame
from dojo_core.expert.episode import run_episode
from dojo_core.expert.pick_place import ExpertConfig
from dojo_core.kinematics.model import RobotModel
from dojo_core.recording import DatasetSettings, open_dataset
from dojo_core.sim import SimCell, SimConfig
from dojo_core.sync import FeatureMap, load_feature_map

DEFAULT_FEATURES = 'so101_sim'


@dataclass(frozen=True)
class SavedEpisode:
    episode_index: int
    seed: int
    frames: int
    duration_s: float  # sim time of the expert episode


@dataclass(frozen=True)
class FailedEpisode:
    seed: int
    reason: str


@dataclass
class ExpertDatasetSummary:
    """What `record_expert_dataset` did; `notes` are the dataset opener's (created / resumed / repaired)."""

    root: Path
    saved: list[SavedEpisode] = field(default_factory=list)
    failed: list[FailedEpisode] = field(default_factory=list)
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(e.frames for e in self.saved)

    def __str__(self) -> str:
        lines = [f'{self.root}: {len(self.saved)} episode(s) saved, {self.frames} frames, {len(self.failed)} '
                 f'failed, {self.wall_s:.1f} s']
        lines += [f'  seed {f.seed} discarded: {f.reason}' for f in self.failed]
        return '\n'.join(lines)


def record_expert_dataset(root: str | os.PathLike, episodes: int, seed: int = 0,
                          feature_map: FeatureMap | str | os.PathLike = DEFAULT_FEATURES,
                          sim_config: SimConfig | None = None, expert_config: ExpertConfig | None = None, *,
                          video_codec: str = 'libsvtav1', repo_id: str | None = None,
                          max_attempts: int | None = None, progress: bool = False) -> ExpertDatasetSummary:
    """Record `episodes` successful expert episodes into the dataset at `root` (created, or resumed).

    `feature_map`: a FeatureMap or a config/features name or path. `sim_config` must render the
    cameras at the map's sizes; without one the cell's default config is sized to the map (small
    maps make fast test datasets). Seeds `seed`, `seed + 1`, ... are tried until `episodes` are
    saved or `max_attempts` (default 2 * episodes) seeds were used.
    """
    if episodes < 1:
        raise ValueError(f'episodes must be >= 1, got {episodes}')
    features = feature_map if isinstance(feature_map, FeatureMap) else load_feature_map(feature_map)
    cell_features = CellFeatures.from_feature_map(features)
    config = cell_features.sim_config(sim_config)
    every = periods_per_frame(config.control_rate_hz, features.fps)
    root = Path(root)
    settings = DatasetSettings(root, repo_id or f'local/{root.resolve().name}',
                               video=VideoEncoderConfig(codec=video_codec))
    started = time.perf_counter()
    summary = ExpertDatasetSummary(root)
    attempts = max_attempts if max_attempts is not None else 2 * episodes
    with ExitStack() as stack:
        cell = SimCell(config)
        stack.callback(cell.close)
        opened = open_dataset(settings, features)
        writer = stack.enter_context(opened.writer)
        summary.notes = opened.notes
        model = RobotModel(cell.urdf)
        bar = stack.enter_context(tqdm(total=episodes, desc='expert episodes', unit='episode',
                                       disable=not progress, dynamic_ncols=True))
        for episode_seed in range(seed, seed + attempts):
            if len(summary.saved) >= episodes:
                break
            tick = 0

            def on_step(cell: SimCell, targets: np.ndarray) -> None:
                nonlocal tick
                if tick % every == 0:
                    writer.add_frame(cell_features.frame(cell, cell.limits.clamp(targets)), cell.task_description)
                tick += 1

            result = run_episode(cell, episode_seed, expert_config, model, on_step)
            if result.success and writer.episode_frames:
                saved = writer.save_episode()
                summary.saved.append(SavedEpisode(saved.episode_index, episode_seed, saved.length, result.duration_s))
                bar.update(1)
            else:
                writer.discard_episode()
                summary.failed.append(FailedEpisode(episode_seed, result.reason or 'no frames'))
            bar.set_postfix(failed=len(summary.failed))
    summary.wall_s = time.perf_counter() - started
    return summary
