"""LeRobot v3.0 writer: what is recorded is what pyarrow and PyAV read back, file by file.

The dataset is read here with pyarrow/pandas/PyAV directly (not with dojo's reader) so that the
test checks the format on disk. Frames are small (64x48, 48x32) smooth synthetic images, which
AV1 at LeRobot's default crf 30 keeps above 35 dB PSNR.
"""
from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi

from dojo_core.cli import main as dojo_main
from dojo_core.dataset import (
    DatasetLockedError, DatasetWriter, VideoEncoderConfig, VideoEncodingError, push_to_hub, validate,
)
from dojo_core.dataset.format import MB, joint_names, scalar_feature, vector_feature, video_feature
from dojo_core.dataset.hub import InvalidDatasetError
from dojo_core.dataset.stats import FrameSampler, aggregate, image_stats, numeric_stats
from dojo_core.robot.description import JOINT_NAMES

FPS = 30
FRONT, WRIST = 'observation.images.front', 'observation.images.wrist'
CAMERAS = {FRONT: (48, 64), WRIST: (32, 48)}
TASKS = ('pick the cube', 'place the cube in the bin')
MIN_PSNR_DB = 35.0
LEROBOT_FIXTURE = Path(__file__).resolve().parents[1] / 'data' / 'lerobot_v30'  # written by lerobot 0.4.4


def features(cameras=CAMERAS) -> dict:
    names = joint_names(JOINT_NAMES)
    out = {'observation.state': vector_feature(names), 'action': vector_feature(names),
           'next.reward': scalar_feature('float32'), 'next.done': scalar_feature('bool')}
    out.update({key: video_feature(*shape) for key, shape in cameras.items()})
    return out


def image(camera: str, episode: int, frame: int) -> np.ndarray:
    """Smooth moving colour waves, different per camera, episode and frame."""
    height, width = CAMERAS[camera]
    y, x = np.mgrid[0:height, 0:width] / 64.0
    phase = 0.1 * episode + 0.3 * list(CAMERAS).index(camera)
    r = 128 + 80 * np.sin(2 * np.pi * (0.6 * x + 0.02 * frame + phase))
    g = 128 + 80 * np.cos(2 * np.pi * (0.5 * y - 0.015 * frame + phase))
    b = 128 + 50 * np.sin(2 * np.pi * (0.4 * (x + y) + 0.01 * frame + 2 * phase))
    return np.stack([r, g, b], axis=-1).round().astype(np.uint8)


def state(episode: int, frame: int) -> np.ndarray:
    return np.sin(0.1 * frame + np.arange(6) + episode).astype(np.float32)


def frame_dict(episode: int, frame: int, length: int, cameras=CAMERAS) -> dict:
    out = {'observation.state': state(episode, frame), 'action': state(episode, frame + 1),
           'next.reward': np.float32(frame == length - 1), 'next.done': np.array([frame == length - 1])}
    out.update({key: image(key, episode, frame) for key in cameras})
    return out


def record(writer: DatasetWriter, episode: int, length: int, tasks=None, cameras=CAMERAS):
    """One episode; `tasks` (one per frame) defaults to alternating TASKS by episode."""
    for f in range(length):
        task = tasks[f] if tasks else TASKS[episode % 2]
        writer.add_frame(frame_dict(episode, f, length, cameras), task=task)
    return writer.save_episode()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def read_episodes(root: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((root / 'meta/episodes').glob('*/*.parquet'))],
                     ignore_index=True)


def read_data(root: Path) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((root / 'data').glob('*/*.parquet'))])


def decode(path: Path) -> tuple[list[Fraction], list[np.ndarray], str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return ([f.pts * stream.time_base for f in frames], [f.to_ndarray(format='rgb24') for f in frames],
                stream.codec_context.codec.canonical_name)


def assert_videos_hold_the_episodes(root: Path, lengths: dict[int, int], cameras=CAMERAS) -> None:
    """Every saved frame decodes at from_timestamp + frame/fps, close to what was recorded."""
    episodes = read_episodes(root)
    for camera in cameras:
        prefix = f'videos/{camera}/'
        for (chunk, file), rows in episodes.groupby([prefix + 'chunk_index', prefix + 'file_index']):
            times, images, _ = decode(root / f'videos/{camera}/chunk-{chunk:03d}/file-{file:03d}.mp4')
            assert times == [Fraction(n, FPS) for n in range(len(times))], 'pts must count frames'
            assert len(times) == sum(lengths[e] for e in rows['episode_index'])
            for _, ep in rows.iterrows():
                first = round(ep[prefix + 'from_timestamp'] * FPS)  # exact: the writer divides integers
                assert ep[prefix + 'from_timestamp'] == first / FPS
                assert ep[prefix + 'to_timestamp'] == (first + ep['length']) / FPS
                for f in range(ep['length']):
                    decoded = images[first + f]
                    assert psnr(decoded, image(camera, ep['episode_index'], f)) >= MIN_PSNR_DB, (camera, ep, f)


def test_round_trip_of_vectors_timestamps_tasks_videos_and_stats(tmp_path):
    root = tmp_path / 'ds'
    writer = DatasetWriter.create(root, 'me/pick', FPS, features(), robot_type='so101_follower')
    lengths = {0: 25, 1: 40, 2: 17}
    summaries = [record(writer, 0, 25), record(writer, 1, 40),
                 record(writer, 2, 17, tasks=[TASKS[0]] * 10 + [TASKS[1]] * 7)]
    assert writer.num_episodes == 3 and writer.num_frames == 82 and writer.episode_frames == 0
    writer.close()

    assert [s.episode_index for s in summaries] == [0, 1, 2]
    assert [(s.dataset_from_index, s.dataset_to_index) for s in summaries] == [(0, 25), (25, 65), (65, 82)]
    assert summaries[2].tasks == TASKS and summaries[1].duration_s == pytest.approx(40 / FPS)
    assert summaries[0].data_file == 'data/chunk-000/file-000.parquet'
    assert summaries[0].video_files[FRONT] == f'videos/{FRONT}/chunk-000/file-000.mp4'

    info = json.loads((root / 'meta/info.json').read_text())
    assert info['codebase_version'] == 'v3.0' and info['fps'] == FPS and info['robot_type'] == 'so101_follower'
    assert (info['total_episodes'], info['total_frames'], info['total_tasks']) == (3, 82, 2)
    assert info['splits'] == {'train': '0:3'} and info['dojo']['units'] == 'radians'
    assert list(info['features'])[-5:] == ['timestamp', 'frame_index', 'episode_index', 'index', 'task_index']
    assert info['features']['index'] == {'dtype': 'int64', 'shape': [1], 'names': None}
    video_info = info['features'][FRONT]['info']
    assert (video_info['video.codec'], video_info['video.pix_fmt'], video_info['video.g'],
            video_info['video.crf'], video_info['video.preset']) == ('av1', 'yuv420p', 2, 30, 12)

    tasks = pd.read_parquet(root / 'meta/tasks.parquet')
    assert tasks.index.name == 'task' and list(tasks.index) == list(TASKS)
    assert tasks['task_index'].tolist() == [0, 1] and tasks['task_index'].dtype == np.int64

    data = read_data(root)
    assert data.schema.field('observation.state').type == pa.list_(pa.float32(), 6)
    assert data.schema.field('next.done').type == pa.bool_() and FRONT not in data.column_names
    assert data.column_names[-5:] == ['timestamp', 'frame_index', 'episode_index', 'index', 'task_index']
    columns = {name: data.column(name).to_pylist() for name in data.column_names}
    expected_rows = [(e, f) for e, n in lengths.items() for f in range(n)]
    np.testing.assert_array_equal(np.array(columns['observation.state'], np.float32),
                                  [state(e, f) for e, f in expected_rows])
    np.testing.assert_array_equal(np.array(columns['action'], np.float32), [state(e, f + 1) for e, f in expected_rows])
    assert columns['next.done'] == [f == lengths[e] - 1 for e, f in expected_rows]
    assert columns['index'] == list(range(82))
    assert columns['episode_index'] == [e for e, _ in expected_rows]
    assert columns['frame_index'] == [f for _, f in expected_rows]
    assert columns['timestamp'] == [float(np.float32(f / FPS)) for _, f in expected_rows]
    assert columns['task_index'] == [0] * 25 + [1] * 40 + [0] * 10 + [1] * 7

    episodes = read_episodes(root)
    assert episodes['length'].tolist() == [25, 40, 17]
    assert [list(t) for t in episodes['tasks']] == [[TASKS[0]], [TASKS[1]], list(TASKS)]
    assert episodes['dataset_from_index'].tolist() == [0, 25, 65]
    assert episodes['dataset_to_index'].tolist() == [25, 65, 82]
    assert episodes[f'videos/{WRIST}/from_timestamp'].tolist() == [0.0, 25 / FPS, 65 / FPS]
    assert (episodes['meta/episodes/file_index'] == 0).all() and (episodes['data/file_index'] == 0).all()
    assert list(episodes['stats/observation.state/count'][1]) == [40]
    assert_videos_hold_the_episodes(root, lengths)

    stats = json.loads((root / 'meta/stats.json').read_text())
    states = np.array(columns['observation.state'], np.float64)
    np.testing.assert_allclose(stats['observation.state']['mean'], states.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats['observation.state']['std'], states.std(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(stats['observation.state']['min'], states.min(axis=0))
    np.testing.assert_array_equal(stats['observation.state']['max'], states.max(axis=0))
    starts = np.cumsum([0, *lengths.values()])
    per_episode = [np.quantile(states[a:b], [0.01, 0.99], axis=0) for a, b in zip(starts, starts[1:])]
    np.testing.assert_allclose(stats['observation.state']['q01'], np.min([q[0] for q in per_episode], axis=0))
    np.testing.assert_allclose(stats['observation.state']['q99'], np.max([q[1] for q in per_episode], axis=0))
    assert stats['index']['count'] == [82] and stats['next.reward']['max'] == [1.0]
    pixels = np.stack([image(FRONT, e, f) for e, f in expected_rows]).reshape(-1, 3) / 255.0
    assert np.shape(stats[FRONT]['mean']) == (3, 1, 1) and stats[FRONT]['count'] == [82]
    np.testing.assert_allclose(np.ravel(stats[FRONT]['mean']), pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(np.ravel(stats[FRONT]['std']), pixels.std(axis=0), rtol=1e-9)
    assert validate(root) == []
    assert not (root / '.dojo_staging').exists()


def test_h264_is_selectable(tmp_path):
    cameras = {FRONT: CAMERAS[FRONT]}
    writer = DatasetWriter.create(tmp_path / 'ds', 'me/h264', FPS, features(cameras),
                                  video=VideoEncoderConfig(codec='libx264', crf=23))
    record(writer, 0, 12, cameras=cameras)
    record(writer, 1, 9, cameras=cameras)
    writer.close()
    info = json.loads((tmp_path / 'ds/meta/info.json').read_text())
    assert info['features'][FRONT]['info']['video.codec'] == 'h264'
    assert decode(tmp_path / f'ds/videos/{FRONT}/chunk-000/file-000.mp4')[2] == 'h264'
    assert_videos_hold_the_episodes(tmp_path / 'ds', {0: 12, 1: 9}, cameras)
    assert validate(tmp_path / 'ds') == []


def files(root: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.glob(pattern))


def test_files_rotate_at_the_size_limits_and_chunks_roll_over(tmp_path):
    cameras = {FRONT: CAMERAS[FRONT]}
    tiny = DatasetWriter.create(tmp_path / 'tiny', 'me/tiny', FPS, features(cameras), chunks_size=2,
                                data_files_size_in_mb=1e-6, video_files_size_in_mb=1e-6)
    lengths = {e: 5 + e for e in range(5)}
    for e, n in lengths.items():
        record(tiny, e, n, cameras=cameras)
    tiny.close()
    expected = ['chunk-000/file-000', 'chunk-000/file-001', 'chunk-001/file-000', 'chunk-001/file-001',
                'chunk-002/file-000']
    root = tmp_path / 'tiny'
    assert files(root, 'data/*/*.parquet') == [f'data/{c}.parquet' for c in expected]
    assert files(root, f'videos/{FRONT}/*/*.mp4') == [f'videos/{FRONT}/{c}.mp4' for c in expected]
    assert files(root, 'meta/episodes/*/*.parquet') == [f'meta/episodes/{c}.parquet' for c in expected]
    episodes = read_episodes(root)
    assert (episodes[f'videos/{FRONT}/from_timestamp'] == 0).all()
    assert episodes['data/chunk_index'].tolist() == [0, 0, 1, 1, 2]
    assert episodes['meta/episodes/file_index'].tolist() == [0, 1, 0, 1, 0]
    assert read_data(root).column('index').to_pylist() == list(range(sum(lengths.values())))
    assert_videos_hold_the_episodes(root, lengths, cameras)
    assert validate(root) == []

    # A limit of about two episodes: several files, several episodes in some of them.
    one_episode = (root / f'videos/{FRONT}/chunk-000/file-000.mp4').stat().st_size
    middle = DatasetWriter.create(tmp_path / 'middle', 'me/middle', FPS, features(cameras),
                                  video_files_size_in_mb=2.5 * one_episode / MB)
    for e in range(5):
        record(middle, e, 5, cameras=cameras)
    middle.close()
    per_file = read_episodes(tmp_path / 'middle').groupby(f'videos/{FRONT}/file_index').size()
    assert len(per_file) > 1 and per_file.max() > 1
    assert_videos_hold_the_episodes(tmp_path / 'middle', dict.fromkeys(range(5), 5), cameras)
    assert validate(tmp_path / 'middle') == []


def test_resume_appends_episodes_in_new_files(tmp_path):
    root = tmp_path / 'ds'
    with DatasetWriter.create(root, 'me/resume', FPS, features()) as writer:
        record(writer, 0, 10)
        record(writer, 1, 8)
    writer = DatasetWriter.open(root)
    assert not writer.repair_report.changed
    assert (writer.num_episodes, writer.num_frames) == (2, 18)
    with pytest.raises(DatasetLockedError):
        DatasetWriter.open(root)
    summary = record(writer, 2, 12, tasks=['a new task'] * 12)
    writer.close()
    assert (summary.dataset_from_index, summary.data_file) == (18, 'data/chunk-000/file-001.parquet')
    assert summary.video_files[WRIST] == f'videos/{WRIST}/chunk-000/file-001.mp4'
    assert files(root, 'meta/episodes/*/*.parquet') == ['meta/episodes/chunk-000/file-000.parquet',
                                                         'meta/episodes/chunk-000/file-001.parquet']
    tasks = pd.read_parquet(root / 'meta/tasks.parquet')
    assert tasks['task_index'].to_dict() == {TASKS[0]: 0, TASKS[1]: 1, 'a new task': 2}
    assert read_data(root).column('task_index').to_pylist()[-12:] == [2] * 12
    assert read_data(root).column('index').to_pylist() == list(range(30))
    assert_videos_hold_the_episodes(root, {0: 10, 1: 8, 2: 12})
    info = json.loads((root / 'meta/info.json').read_text())
    assert (info['total_episodes'], info['total_frames'], info['total_tasks']) == (3, 30, 3)
    assert validate(root) == []


def test_appends_to_a_dataset_lerobot_wrote(tmp_path):
    root = tmp_path / 'ds'
    shutil.copytree(LEROBOT_FIXTURE, root)
    with DatasetWriter.open(root) as writer:
        assert not writer.repair_report.changed and (writer.num_episodes, writer.num_frames) == (3, 44)
        shapes = {k: ft['shape'] for k, ft in writer.features.items() if ft['dtype'] == 'video'}
        for f in range(10):
            writer.add_frame({'observation.state': state(0, f), 'action': state(0, f), 'next.reward': 0.0,
                              'next.done': f == 9, **{k: np.full(s, 9 * f, np.uint8) for k, s in shapes.items()}},
                             task='pick up the cube')
        summary = writer.save_episode()
    assert (summary.episode_index, summary.dataset_from_index) == (3, 44)
    assert summary.data_file == 'data/chunk-000/file-001.parquet'
    assert read_data(root).column('task_index').to_pylist()[-10:] == [0] * 10
    assert validate(root) == []


def test_discarded_episode_leaves_no_trace(tmp_path):
    root = tmp_path / 'ds'
    writer = DatasetWriter.create(root, 'me/discard', FPS, features())
    record(writer, 0, 10)
    for f in range(15):
        writer.add_frame(frame_dict(7, f, 15), task='never saved')
    assert writer.episode_frames == 15
    assert writer.discard_episode() == 15 and writer.episode_frames == 0
    summary = record(writer, 1, 6)
    writer.close()
    assert (summary.episode_index, summary.dataset_from_index) == (1, 10)
    assert 'never saved' not in pd.read_parquet(root / 'meta/tasks.parquet').index
    assert_videos_hold_the_episodes(root, {0: 10, 1: 6})
    assert validate(root) == []
    assert not (root / '.dojo_staging').exists()


def test_bad_input_is_refused_clearly_and_changes_nothing(tmp_path):
    with pytest.raises(ValueError, match='"/"'):
        DatasetWriter.create(tmp_path / 'a', 'me/a', FPS, {'obs/state': vector_feature(['x'])})
    with pytest.raises(ValueError, match='image'):
        DatasetWriter.create(tmp_path / 'a', 'me/a', FPS, {FRONT: {'dtype': 'image', 'shape': [4, 4, 3]}})
    with pytest.raises(ValueError, match='even'):
        DatasetWriter.create(tmp_path / 'a', 'me/a', FPS, {FRONT: video_feature(47, 64)})
    with pytest.raises(ValueError, match='fps'):
        DatasetWriter.create(tmp_path / 'a', 'me/a', 29.97, features())
    with pytest.raises(ValueError, match='added by the writer'):
        DatasetWriter.create(tmp_path / 'a', 'me/a', FPS, {'timestamp': scalar_feature('float32')})
    with pytest.raises(ValueError, match='not supported'):
        VideoEncoderConfig(codec='mpeg4')

    writer = DatasetWriter.create(tmp_path / 'ds', 'me/bad', FPS, features())
    good = frame_dict(0, 0, 5)
    bad_frames = {
        'missing': {k: v for k, v in good.items() if k != 'action'},
        'unexpected': {**good, 'observation.velocity': np.zeros(6)},
        'shape': {**good, 'observation.state': np.zeros(5, np.float32)},
        'uint8': {**good, FRONT: good[FRONT].astype(np.float32)},
        'cannot store': {**good, 'next.done': np.array([0.5])},
    }
    for message, frame in bad_frames.items():
        with pytest.raises(ValueError, match=message):
            writer.add_frame(frame, task='t')
    with pytest.raises(ValueError, match='task'):
        writer.add_frame(good, task='')
    assert writer.episode_frames == 0
    with pytest.raises(RuntimeError, match='no frames'):
        writer.save_episode()
    writer.add_frame({**good, 'observation.state': state(0, 0).astype(np.float64)}, task='t')  # float64 is cast
    assert writer.save_episode().length == 1
    writer.close()
    with pytest.raises(RuntimeError, match='closed'):
        writer.add_frame(good, task='t')
    with pytest.raises(FileExistsError):
        DatasetWriter.create(tmp_path / 'ds', 'me/bad', FPS, features())
    assert validate(tmp_path / 'ds') == []


def test_an_encoder_failure_surfaces_and_the_episode_can_only_be_discarded(tmp_path):
    cameras = {FRONT: CAMERAS[FRONT]}
    writer = DatasetWriter.create(tmp_path / 'ds', 'me/enc', FPS, features(cameras),
                                  video=VideoEncoderConfig(crf=10_000))  # SVT-AV1 refuses to open
    with pytest.raises(VideoEncodingError, match=FRONT):
        for f in range(200):
            writer.add_frame(frame_dict(0, f, 200, cameras), task='t')
    with pytest.raises(VideoEncodingError):
        writer.save_episode()
    assert writer.discard_episode() > 0
    assert writer.num_episodes == 0
    writer.close()


def test_stats_merge_exactly_for_moments_and_conservatively_for_quantiles():
    rng = np.random.default_rng(0)
    parts = [rng.normal(i, 1 + i, size=(n, 3)) for i, n in enumerate((50, 7, 120))]
    merged = aggregate(numeric_stats(p) for p in parts)
    everything = np.concatenate(parts)
    np.testing.assert_allclose(merged['mean'], everything.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(merged['std'], everything.std(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(merged['min'], everything.min(axis=0))
    assert merged['count'].tolist() == [177]
    np.testing.assert_array_equal(merged['q10'], np.min([np.quantile(p, 0.1, axis=0) for p in parts], axis=0))
    np.testing.assert_array_equal(merged['q90'], np.max([np.quantile(p, 0.9, axis=0) for p in parts], axis=0))
    assert numeric_stats(np.arange(4.0))['mean'].shape == (1,)

    frames = rng.integers(0, 256, size=(5, 12, 10, 3), dtype=np.uint8)
    stats = image_stats(frames)
    pixels = frames.reshape(-1, 3) / 255.0
    for key, q in (('q01', 0.01), ('q50', 0.5), ('q99', 0.99)):
        np.testing.assert_allclose(stats[key].ravel(), np.quantile(pixels, q, axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats['std'].ravel(), pixels.std(axis=0), rtol=1e-12)
    assert stats['mean'].shape == (3, 1, 1) and stats['count'].tolist() == [5]

    sampler = FrameSampler(capacity=8, max_side=16)
    for i in range(1000):
        sampler.offer(i, np.full((64, 48, 3), i % 256, np.uint8))
    kept = [i for i, _ in sampler._kept]
    assert 4 <= len(kept) <= 8 and kept[0] == 0 and np.ptp(np.diff(kept)) == 0
    assert sampler._kept[0][1].shape == (16, 12, 3)


def test_units_metadata_flag(tmp_path):
    """The writer stores values as given and says which units they are in (dojo_core.sync.JointUnits converts)."""
    writer = DatasetWriter.create(tmp_path / 'ds', 'me/deg', FPS, features({}), units='degrees')
    writer.close()
    assert json.loads((tmp_path / 'ds/meta/info.json').read_text())['dojo']['units'] == 'degrees'
    with pytest.raises(ValueError, match='units'):
        DatasetWriter.create(tmp_path / 'other', 'me/deg', FPS, features({}), units='furlongs')


class RecordingHfApi(HfApi):
    """A real HfApi whose network calls are recorded instead of sent."""

    def __init__(self):
        super().__init__(token='hf_test')
        self.calls = []

    def _record(name):  # noqa: N805 - builds the recording methods below
        def call(self, *args, **kwargs):
            self.calls.append((name, args, kwargs))
            return f'https://huggingface.co/datasets/{kwargs.get("repo_id", args[0] if args else "")}/commit/1'
        return call

    create_repo = _record('create_repo')
    create_branch = _record('create_branch')
    upload_folder = _record('upload_folder')
    upload_file = _record('upload_file')
    delete_tag = _record('delete_tag')
    create_tag = _record('create_tag')


def test_push_to_hub_uploads_the_folder_and_tags_the_codebase_version(tmp_path):
    root = tmp_path / 'ds'
    with DatasetWriter.create(root, 'me/push', FPS, features({})) as writer:
        record(writer, 0, 5, cameras={})
    api = RecordingHfApi()
    url = push_to_hub(root, 'me/push', private=True, api=api)
    assert 'me/push' in url
    names = [name for name, _, _ in api.calls]
    assert names == ['create_repo', 'upload_folder', 'upload_file', 'delete_tag', 'create_tag']
    create_repo, upload, card, _, tag = (kwargs for _, _, kwargs in api.calls)
    assert create_repo == {'repo_id': 'me/push', 'repo_type': 'dataset', 'private': True, 'exist_ok': True}
    assert upload['folder_path'] == str(root) and '.dojo_staging/**' in upload['ignore_patterns']
    assert b'LeRobot' in card['path_or_fileobj'] and card['path_in_repo'] == 'README.md'
    assert tag['tag'] == 'v3.0' and api.calls[-1][1] == ('me/push',)

    (root / 'meta/info.json').write_text((root / 'meta/info.json').read_text().replace('"v3.0"', '"v2.1"'))
    api = RecordingHfApi()
    with pytest.raises(InvalidDatasetError, match='codebase_version'):
        push_to_hub(root, 'me/push', api=api)
    assert api.calls == []


def test_dataset_info_and_validate_verbs(tmp_path, capsys):
    root = tmp_path / 'ds'
    with DatasetWriter.create(root, 'me/cli', FPS, features({FRONT: CAMERAS[FRONT]}), robot_type='so101') as writer:
        record(writer, 0, 6, cameras={FRONT: CAMERAS[FRONT]})
    assert dojo_main(['dataset', 'info', str(root)]) == 0
    out = capsys.readouterr().out
    assert 'episodes 1, frames 6' in out and f'{FRONT}: video [48, 64, 3]  av1' in out
    assert dojo_main(['dataset', 'validate', str(root)]) == 0
    assert 'valid LeRobot v3.0 dataset' in capsys.readouterr().out
    assert dojo_main(['dataset', 'repair', str(root)]) == 0
    assert 'nothing to repair' in capsys.readouterr().out
    assert dojo_main(['dataset', 'info', str(tmp_path / 'missing')]) == 1
    assert 'missing' in capsys.readouterr().err
