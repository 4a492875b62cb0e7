"""Decoded-frame cache: frames equal the model's resize of the reader's frames, the torch dataset yields the
same samples through it, valid caches are reused and stale or half-written ones rebuilt, concurrent builders
build once, DataLoader workers read it, and `run_training` builds and trains from it.

Uses the lerobot-written fixture tests/data/lerobot_v30 (3 episodes, 44 frames, cameras 64x48 and 32x24),
copied wherever a test changes the dataset.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dojo_core.cli import main
from dojo_core.dataset.format import DEFAULT_FEATURES
from dojo_core.dataset.frame_cache import MANIFEST, FrameCache
from dojo_core.dataset.reader import LeRobotDatasetReader
from dojo_core.dataset.torch_dataset import LeRobotTorchDataset
from dojo_core.dataset.writer import DatasetWriter
from dojo_core.training import TrainConfig
from dojo_core.training.run import FRAME_CACHE_DIR, run_training

pytestmark = pytest.mark.usefixtures('torch_one_thread')

FIXTURE = Path(__file__).resolve().parents[2] / 'tests' / 'data' / 'lerobot_v30'
FRONT, WRIST = 'observation.images.front', 'observation.images.wrist'
SIZE = (20, 28)  # both cameras (48x64, 24x32) are resized, by non-integer factors
ROUNDING = 0.5 / 255 + 1e-6  # a cached uint8 image vs the float the model would compute


def model_resize(images: torch.Tensor, size=SIZE) -> torch.Tensor:
    """What ACT's image_tokens does to (..., 3, H, W) float images before its backbone."""
    flat = images.reshape(-1, *images.shape[-3:])
    resized = F.interpolate(flat, size=size, mode='bilinear', align_corners=False, antialias=True)
    return resized.reshape(*images.shape[:-2], *size)


def as_float(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1], as the torch dataset converts."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


def manifest_mtime(directory: Path) -> int:
    return (directory / MANIFEST).stat().st_mtime_ns


@pytest.fixture(scope='module')
def reader() -> LeRobotDatasetReader:
    return LeRobotDatasetReader(FIXTURE)


@pytest.fixture(scope='module')
def cache(reader, tmp_path_factory) -> FrameCache:
    return FrameCache.open(reader, tmp_path_factory.mktemp('cache'), [FRONT, WRIST], SIZE, progress=False)


@pytest.fixture()
def dataset_copy(tmp_path) -> Path:
    root = tmp_path / 'dataset'
    shutil.copytree(FIXTURE, root)
    return root


def test_cached_frames_are_the_readers_frames_resized_by_the_models_op(reader, cache):
    assert cache.built and cache.keys == [FRONT, WRIST] and cache.size == SIZE and cache.num_frames == 44
    everything = np.arange(reader.num_frames)
    for key in (FRONT, WRIST):
        cached = cache.read(key, everything)
        assert cached.dtype == np.uint8 and cached.shape == (44, *SIZE, 3)
        expected = model_resize(as_float(reader.read(key, everything)))
        assert float((as_float(cached) - expected).abs().max()) <= ROUNDING, key
    # random order and repeats map to the right rows
    order = np.array([43, 0, 17, 17, 12])
    np.testing.assert_array_equal(cache.read(FRONT, order), cache.read(FRONT, everything)[order])


def test_a_cache_of_some_episodes_holds_exactly_those(reader, cache, tmp_path):
    subset = FrameCache.open(reader, tmp_path, [FRONT], SIZE, episodes=[2, 0], progress=False)
    assert subset.episodes == [0, 2] and subset.num_frames == 12 + 15 and FRONT in subset and WRIST not in subset
    inside = np.r_[0:12, 29:44]
    np.testing.assert_array_equal(subset.read(FRONT, inside), cache.read(FRONT, inside))
    with pytest.raises(KeyError, match='not in the cached episodes'):
        subset.read(FRONT, [11, 12])
    with pytest.raises(KeyError, match='not cached'):
        subset.read(WRIST, [0])


def test_the_torch_dataset_through_the_cache_yields_what_the_model_would_see(reader, cache):
    delta = {'action': [i / 30 for i in range(5)], FRONT: [-1 / 30, 0.0]}
    plain = LeRobotTorchDataset(reader, delta_timestamps=delta)
    cached = LeRobotTorchDataset(reader, delta_timestamps=delta, frame_cache=cache)
    assert len(cached) == len(plain) == 44
    for i in range(len(plain)):
        a, b = plain[i], cached[i]
        assert a.keys() == b.keys()
        for key in a:
            if key in (FRONT, WRIST):
                assert b[key].dtype == torch.float32 and b[key].shape == (*a[key].shape[:-2], *SIZE)
                assert float((b[key] - model_resize(a[key])).abs().max()) <= ROUNDING, (i, key)
            elif key == 'task':
                assert a[key] == b[key]
            else:
                assert torch.equal(a[key], b[key]), (i, key)
    np.testing.assert_array_equal(cached[12][f'{FRONT}_is_pad'], [True, False])  # first frame of episode 1


def test_the_torch_dataset_refuses_a_cache_that_does_not_cover_it(reader, dataset_copy, tmp_path):
    subset = FrameCache.open(reader, tmp_path / 'subset', [FRONT], SIZE, episodes=[0, 2], progress=False)
    LeRobotTorchDataset(reader, episodes=[0, 2], frame_cache=subset)
    LeRobotTorchDataset(reader, keys=['action', WRIST], frame_cache=subset)  # no cached camera asked for
    with pytest.raises(ValueError, match=r'lacks episodes \[1\]'):
        LeRobotTorchDataset(reader, frame_cache=subset)
    with pytest.raises(ValueError, match='holds frames of'):
        LeRobotTorchDataset(LeRobotDatasetReader(dataset_copy), episodes=[0], frame_cache=subset)


def test_a_valid_cache_is_reused_and_a_stale_or_half_written_one_rebuilt(dataset_copy, tmp_path):
    directory = tmp_path / 'cache'
    reader = LeRobotDatasetReader(dataset_copy)
    first = FrameCache.open(reader, directory, [FRONT, WRIST], SIZE, progress=False)
    stamp = manifest_mtime(directory)
    again = FrameCache.open(reader, directory, [WRIST, FRONT], SIZE, progress=False)  # key order is irrelevant
    assert first.built and not again.built and manifest_mtime(directory) == stamp

    other_size = FrameCache.open(reader, directory, [FRONT], (12, 16), progress=False)
    assert other_size.built and other_size.read(FRONT, [0]).shape == (1, 12, 16, 3)
    assert sorted(p.name for p in directory.glob('*.npy')) == [f'{FRONT}.npy']  # the stale wrist file is gone

    # a build killed before its manifest: the files may be complete, but nothing says so
    (directory / MANIFEST).unlink()
    (directory / f'{WRIST}.npy.tmp').write_bytes(b'half a file')
    rebuilt = FrameCache.open(reader, directory, [FRONT], (12, 16), progress=False)
    assert rebuilt.built and not list(directory.glob('*.tmp'))
    assert not FrameCache.open(reader, directory, [FRONT], (12, 16), progress=False).built

    # the dataset grows by an episode (a copy of episode 0): the cache follows it
    user_keys = [k for k in reader.features if k not in DEFAULT_FEATURES]
    with DatasetWriter.open(dataset_copy) as writer:
        for i in range(12):
            frame = reader.frame(i, keys=user_keys)
            writer.add_frame(frame, task=frame.pop('task'))
        writer.save_episode()
    grown = LeRobotDatasetReader(dataset_copy)
    after = FrameCache.open(grown, directory, [FRONT], (12, 16), progress=False)
    assert after.built and after.num_frames == 56 and after.episodes == [0, 1, 2, 3]
    expected = model_resize(as_float(grown.read(FRONT, np.arange(44, 56))), (12, 16))
    assert float((as_float(after.read(FRONT, np.arange(44, 56))) - expected).abs().max()) <= ROUNDING
    assert json.loads((directory / MANIFEST).read_text())['total_frames'] == 56


def test_concurrent_builders_build_once(reader, tmp_path):
    """What torchrun ranks do: all open the same cache at once; one builds, the others wait and reuse it."""
    results: list[FrameCache] = []
    threads = [threading.Thread(target=lambda: results.append(
        FrameCache.open(reader, tmp_path, [FRONT, WRIST], SIZE, progress=False))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(c.built for c in results) == [False, False, True]
    for c in results:
        np.testing.assert_array_equal(c.read(WRIST, np.arange(44)), results[0].read(WRIST, np.arange(44)))


def test_dataloader_workers_read_the_cache(reader, cache):
    dataset = LeRobotTorchDataset(reader, delta_timestamps={'action': [0, 1 / 30]}, keys=[FRONT, WRIST, 'action'],
                                  frame_cache=cache)
    direct = [dataset[i] for i in range(len(dataset))]  # maps the files here, before the workers fork
    clone = pickle.loads(pickle.dumps(dataset))  # spawn-style workers get a pickled copy: no frames in it
    assert len(pickle.dumps(cache)) < 10_000
    assert torch.equal(clone[30][FRONT], direct[30][FRONT])
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, num_workers=2, shuffle=False)
    start = 0
    for batch in loader:
        n = len(batch['action'])
        for key in (FRONT, WRIST, 'action', 'action_is_pad'):
            assert torch.equal(batch[key], torch.stack([direct[start + j][key] for j in range(n)])), key
        start += n
    assert start == len(dataset)


def quick_run(**overrides) -> TrainConfig:
    return TrainConfig(**{'batch_size': 4, 'num_workers': 0, 'device': 'cpu', 'progress': False, 'seed': 0,
                          **overrides})


def test_run_training_builds_the_cache_and_trains_from_it(dataset_copy, tmp_path):
    out = tmp_path / 'run'
    result = run_training(dataset_copy, out, policy='act', preset='tiny',
                          train_config=quick_run(steps=2, save_every=2), policy_overrides={'resize_images': [24, 32]})
    assert result.step == 2
    manifest = json.loads((out / FRAME_CACHE_DIR / MANIFEST).read_text())
    assert (manifest['keys'], manifest['size'], manifest['episodes']) == ([FRONT, WRIST], [24, 32], [0, 1, 2])
    reader = LeRobotDatasetReader(dataset_copy)
    wrist = np.load(out / FRAME_CACHE_DIR / f'{WRIST}.npy')  # already 24x32: cached exactly as decoded
    np.testing.assert_array_equal(wrist, reader.read(WRIST, np.arange(44)))
    stamp = manifest_mtime(out / FRAME_CACHE_DIR)

    # Garble the videos but keep their size and mtime: the cache still counts as valid, and the
    # resumed run can only train if it never decodes video.
    for video in (dataset_copy / 'videos').rglob('*.mp4'):
        stat = video.stat()
        video.write_bytes(os.urandom(stat.st_size))
        os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    resumed = run_training(None, out, train_config=quick_run(steps=4, save_every=2), resume=True)
    assert resumed.step == 4 and manifest_mtime(out / FRAME_CACHE_DIR) == stamp
    # the videos really are garbage now (random bytes may even parse as a container without a stream)
    with pytest.raises((av.error.FFmpegError, ValueError)):
        reader.read(FRONT, [5])


def test_no_cache_for_full_size_images_or_when_switched_off(dataset_copy, tmp_path, capsys):
    run_training(dataset_copy, tmp_path / 'full_size', policy='act', preset='tiny', train_config=quick_run(steps=1))
    assert (tmp_path / 'full_size' / 'checkpoints').is_dir()
    assert not (tmp_path / 'full_size' / FRAME_CACHE_DIR).exists()
    out = tmp_path / 'cli'
    args = ['train', '--dataset', str(dataset_copy), '--out', str(out), '--policy', 'act', '--preset', 'cpu',
            '--steps', '1', '--batch-size', '2', '--device', 'cpu', '--num-workers', '0', '--no-progress',
            '--no-frame-cache']
    assert main(args) == 0
    assert not (out / FRAME_CACHE_DIR).exists()
    assert json.loads((out / 'checkpoints' / 'last' / 'train_config.json').read_text())['cache_frames'] is False
