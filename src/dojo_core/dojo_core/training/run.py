"""Train a policy on a LeRobot dataset on disk: the dataset side of `dojo train`.

`train()` takes a torch Dataset, a policy config and normalisation stats and knows nothing about
dataset files. Here all three come from the dataset itself: the policy's inputs and output from
meta/info.json `features` (`dataset_features`), its normaliser from meta/stats.json, and the
samples from `LeRobotTorchDataset` with the windows the policy's config declares
(`PolicyConfig.delta_indices()`, frames turned into seconds at the dataset fps). The policy type is
found by name in the `dojo.policies` entry-point group and configured by one of its presets.

The run also records which dataset it learned from (`dataset.json`: path, repo_id, fps, features
with their element names, the dataset's `dojo` block with the joint units, training episodes) in
the run directory and in every checkpoint's pretrained_model/, so that the policy node and
evaluations rebuild the same observation mapping without the dataset at hand. (The periodic
checkpoints get it when the run ends; `read_dataset_record` falls back to the run directory for
those of a run that was killed.)

When the policy resizes its camera images (`PolicyConfig.image_preprocessing.resize`) and
`TrainConfig.cache_frames` is on, the run first decodes the training episodes' frames of the
policy's cameras once into `frame_cache/` in the run directory, already resized
(dojo_core.dataset.frame_cache), and trains from there: decoding full-size video at random
positions, passing full-size float images out of the DataLoader workers and resizing them in the
model would otherwise bound the step rate (96x128 images, batch 8, 2 cores: 1.2 steps/s, 4.2
with the cache; benchmarks/train_throughput.py). A resumed run reuses the cache (rebuilt if the
dataset changed); it can be deleted at any time and is rebuilt on the next start. Without a
resize the model sees full-size frames and nothing is cached.

A new run whose config starts from external pretrained weights (`PolicyConfig.pretrained_weights`)
that are not on this machine stops before anything else, naming the weights and the presets that
train without them, instead of ending in a network error after the hub's retries.

Run directory: checkpoints/, loss.csv, loss.png, dataset.json and frame_cache/ (when used).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dojo_core.dataset import LeRobotDatasetReader
from dojo_core.dataset.frame_cache import FrameCache
from dojo_core.dataset.record import DATASET_RECORD, DatasetRecord, policy_relevant, read_dataset_record  # noqa: F401 - re-exported
from dojo_core.dataset.torch_dataset import LeRobotTorchDataset
from dojo_core.policies import PolicyConfig, dataset_features, policy_class, policy_types
from dojo_core.policies.config import DEFAULT_PRESET
from dojo_core.policies.hub import on_disk
from dojo_core.training.checkpoint import CHECKPOINTS_DIR, PRETRAINED_DIR, TRAIN_CONFIG, last_checkpoint
from dojo_core.training.config import TrainConfig
from dojo_core.training.loop import TrainResult, train

FRAME_CACHE_DIR = 'frame_cache'


def policy_config(policy_type: str, preset: str, features: Mapping[str, Mapping[str, Any]], fps: int,
                  **overrides: Any) -> PolicyConfig:
    """The config of a new `policy_type` policy (preset `preset`) for a dataset with info.json `features` at `fps`."""
    inputs, outputs = dataset_features(features)
    fields = {'input_features': inputs, 'output_features': outputs, 'fps': fps, **overrides}
    return policy_class(policy_type).config_class.preset(preset, **fields)


def check_pretrained_weights(config: PolicyConfig, preset: str, features: Mapping[str, Mapping[str, Any]],
                             fps: int) -> None:
    """Refuse at once a config whose pretrained weights are not on this machine (no network is touched)."""
    missing = [source for source in config.pretrained_weights() if not on_disk(source)]
    if not missing:
        return
    without = [name for name in type(config).presets
               if not policy_config(config.type, name, features, fps).pretrained_weights()]
    fetch = ' and '.join(f'`hf download {source}`' for source in missing)
    instead = f'or train from scratch with --preset {" / ".join(without)}' if without else \
        'no preset of this policy trains without them'
    raise FileNotFoundError(f'the {config.type} {preset} preset starts from pretrained weights that are not on this '
                            f'machine: {", ".join(missing)}. Fetch them first ({fetch}, or give a local path), '
                            f'{instead}.')


def delta_timestamps(config: PolicyConfig, fps: int) -> dict[str, list[float]]:
    """The sample windows the policy declares (`PolicyConfig.delta_indices()`), in seconds at `fps`."""
    return {key: [i / fps for i in indices] for key, indices in config.delta_indices().items()}


def training_dataset(reader: LeRobotDatasetReader, config: PolicyConfig, episodes: Sequence[int] | None = None,
                     frame_cache: FrameCache | None = None) -> LeRobotTorchDataset:
    """The samples of `episodes` (all by default) with the policy's features only (other cameras are not decoded)."""
    return LeRobotTorchDataset(reader, delta_timestamps(config, reader.fps), episodes=episodes,
                               keys=[*config.input_features, *config.output_features], frame_cache=frame_cache)


def training_frame_cache(reader: LeRobotDatasetReader, config: PolicyConfig, out_dir: str | Path,
                         episodes: Sequence[int] | None = None, progress: bool = True) -> FrameCache | None:
    """The frame cache of the run in `out_dir` (built or reused) at the size the policy resizes its images to,
    or None when it takes them at the recorded size.

    Every process of a torchrun job calls this: the first to take the cache's lock builds it, the
    others wait and reuse it.
    """
    size = config.image_preprocessing.resize
    if size is None or not config.image_features:
        return None
    return FrameCache.open(reader, Path(out_dir) / FRAME_CACHE_DIR, config.image_features, size, episodes,
                           progress=progress)


def resumed_train_config(out_dir: str | Path, **overrides: Any) -> TrainConfig:
    """The TrainConfig the run in `out_dir` was saved with, with `overrides` (e.g. more steps)."""
    saved = json.loads((last_checkpoint(Path(out_dir)) / TRAIN_CONFIG).read_text())
    return TrainConfig(**{**saved, **overrides})


def run_training(dataset: str | os.PathLike | None, out_dir: str | os.PathLike, *, policy: str | None = None,
                 preset: str = DEFAULT_PRESET, train_config: TrainConfig | None = None,
                 episodes: Sequence[int] | None = None, resume: bool = False,
                 policy_overrides: Mapping[str, Any] | None = None) -> TrainResult:
    """Train a new `policy` on the dataset at `dataset`, or (resume=True) continue the run in `out_dir`.

    A resumed run keeps its policy config and training episodes and reads the dataset it was
    started on (or `dataset`, which must have the same fps and features). Works under torchrun
    unchanged: every process builds the same dataset and `train` splits it.
    """
    out_dir = Path(out_dir)
    train_config = train_config or TrainConfig()
    if resume:
        if policy_overrides:
            raise ValueError(f'a resumed run keeps its policy config; cannot change {sorted(policy_overrides)}')
        config = PolicyConfig.load(last_checkpoint(out_dir) / PRETRAINED_DIR)
        record = read_dataset_record(out_dir)
        reader = LeRobotDatasetReader(dataset if dataset is not None else record.path)
        _check_same_dataset(record, reader)
        if episodes is not None and list(episodes) != record.episodes:
            raise ValueError(f'a resumed run trains on the episodes it started with ({record.episodes})')
        episodes, stats = record.episodes, None
    else:
        if dataset is None or policy is None:
            raise ValueError(f'a new training run needs a dataset and a policy type (one of {policy_types()})')
        if (out_dir / CHECKPOINTS_DIR).exists():
            raise FileExistsError(f'{out_dir} already holds a training run: resume it or choose another output '
                                  'directory')
        reader = LeRobotDatasetReader(dataset)
        if not reader.stats:
            raise ValueError(f'{reader.root} has no meta/stats.json to normalise with (`dojo dataset repair` '
                             'rewrites it)')
        config = policy_config(policy, preset, reader.features, reader.fps, **(policy_overrides or {}))
        check_pretrained_weights(config, preset, reader.features, reader.fps)
        record = DatasetRecord.of(reader, episodes)
        stats = reader.stats
    cache = training_frame_cache(reader, config, out_dir, episodes, train_config.progress) \
        if train_config.cache_frames else None
    samples = training_dataset(reader, config, episodes, cache)
    main_process = int(os.environ.get('RANK', '0')) == 0
    if main_process:
        record.write(out_dir)
    result = train(train_config, samples, out_dir, None if resume else config, stats, resume=resume)
    if main_process:
        for checkpoint in sorted((out_dir / CHECKPOINTS_DIR).iterdir()):
            if checkpoint.is_dir() and not checkpoint.is_symlink() and not checkpoint.name.startswith('.'):
                if not (checkpoint / PRETRAINED_DIR / DATASET_RECORD).is_file():
                    record.write(checkpoint / PRETRAINED_DIR)
    return result


def _check_same_dataset(record: DatasetRecord, reader: LeRobotDatasetReader) -> None:
    problems = []
    if reader.fps != record.fps:
        problems.append(f'fps {reader.fps}, the run was started at {record.fps}')
    have = policy_relevant(reader.features)
    for name in sorted(have.keys() | record.features.keys()):
        if have.get(name) != record.features.get(name):
            problems.append(f'{name}: {have.get(name)} here, {record.features.get(name)} in the run')
    if problems:
        raise ValueError(f'{reader.root} is not the dataset the run in progress was started on: ' + '; '.join(problems))
