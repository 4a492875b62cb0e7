"""LeRobot dataset reader: the lerobot-written v3.0 fixture, v2.1 layout, torch windows, workers.

tests/data/lerobot_v30 was written by lerobot 0.4.4 itself (tools/lerobot_compat/make_fixture.py);
its values are deterministic functions that this test imports from that script and recomputes.
The same content is also written by dojo's writer spread over many files, and in v2.1 layout
(lerobot 0.3) with pyarrow + PyAV here.
"""
from __future__ import annotations

import importlib.util
import io
import json
import pickle
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from dojo_core.dataset.reader import LeRobotDatasetReader
from dojo_core.dataset.storage import DatasetError
from dojo_core.dataset.stats import numeric_stats
from dojo_core.dataset.torch_dataset import LeRobotTorchDataset
from dojo_core.dataset.video_decoder import FrameTimestampError, VideoDecoder
from dojo_core.dataset.writer import DatasetWriter

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / 'tests' / 'data' / 'lerobot_v30'
FRONT, WRIST = 'observation.images.front', 'observation.images.wrist'


def _load_make_fixture():
    spec = importlib.util.spec_from_file_location('make_fixture', REPO / 'tools' / 'lerobot_compat' / 'make_fixture.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fixture = _load_make_fixture()
EXPECTED = json.loads((FIXTURE / 'expected.json').read_text())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float('inf') if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def assert_frames_match(camera: str, decoded: np.ndarray, episodes: np.ndarray, frames: np.ndarray,
                        all_frames: dict[tuple[int, int], np.ndarray]) -> None:
    """Each decoded frame is its own synthetic frame (PSNR) and no other frame is closer."""
    keys = list(all_frames)
    stack = np.stack([all_frames[k] for k in keys]).astype(np.float64)
    for image, e, f in zip(decoded, episodes, frames):
        assert image.shape == all_frames[(e, f)].shape and image.dtype == np.uint8
        assert psnr(image, all_frames[(e, f)]) >= EXPECTED['min_psnr_db'], (camera, e, f)
        nearest = keys[int(((stack - image) ** 2).mean(axis=(1, 2, 3)).argmin())]
        assert nearest == (e, f), f'{camera}: frame {f} of episode {e} decoded as {nearest}'


@pytest.fixture(scope='module')
def reader() -> LeRobotDatasetReader:
    return LeRobotDatasetReader(FIXTURE)


# --- the lerobot-written v3.0 fixture ----------------------------------------------------------

def test_metadata_of_lerobot_written_dataset(reader):
    assert reader.info['codebase_version'] == 'v3.0'
    assert reader.fps == EXPECTED['fps'] == 30
    assert reader.num_episodes == len(EXPECTED['episodes']) == 3
    assert reader.num_frames == len(reader) == sum(e['length'] for e in EXPECTED['episodes'])
    assert sorted(reader.tasks.values()) == sorted({e['task'] for e in EXPECTED['episodes']})
    assert reader.video_keys == reader.camera_keys == [FRONT, WRIST]
    assert reader.features['observation.state']['names'][0] == 'shoulder_pan.pos'
    start = 0
    for episode, expected in zip(reader.episodes, EXPECTED['episodes']):
        assert (episode.index, episode.length, episode.tasks) == \
            (expected['episode_index'], expected['length'], (expected['task'],))
        assert episode.frames == range(start, start + expected['length'])
        assert reader.episode_of(start) == reader.episode_of(episode.frame_to - 1) == episode
        start = episode.frame_to
    assert reader.stats['action']['min'].shape == (6,)
    np.testing.assert_allclose(reader.stats['action']['max'], np.max(
        [np.max(e['action'], axis=0) for e in EXPECTED['episodes']], axis=0))


def test_every_vector_scalar_timestamp_and_task_of_the_fixture(reader):
    for episode, expected in zip(reader.episodes, EXPECTED['episodes']):
        rows = np.arange(episode.frame_from, episode.frame_to)
        for key in ('observation.state', 'action'):
            values = reader.read(key, rows)
            assert values.dtype == np.float32 and values.shape == (episode.length, 6)
            np.testing.assert_array_equal(values, np.array(expected[key], dtype=np.float32))
        np.testing.assert_array_equal(reader.read('next.reward', rows), np.float32(expected['next.reward']))
        np.testing.assert_array_equal(reader.read('next.done', rows), expected['next.done'])
        np.testing.assert_array_equal(reader.read('frame_index', rows), np.arange(episode.length))
        np.testing.assert_allclose(reader.read('timestamp', rows), np.arange(episode.length) / 30, atol=1e-6)
        assert all(reader.task(i) == expected['task'] for i in rows)
    item = reader[13]  # episode 1, frame 1
    assert item['task'] == 'put the cube in the bin' and item['frame_index'] == 1 and item['index'] == 13
    np.testing.assert_array_equal(item['observation.state'], fixture.state(1, 1))
    assert item[FRONT].shape == (48, 64, 3) and item[WRIST].shape == (24, 32, 3)


def test_fixture_frames_decode_to_their_synthetic_content(reader):
    episodes, frames = reader.column('episode_index'), reader.column('frame_index')
    for camera in (FRONT, WRIST):
        expected = {(e['episode_index'], f): fixture.synthetic_frame(camera, e['episode_index'], f)
                    for e in EXPECTED['episodes'] for f in range(e['length'])}
        assert_frames_match(camera, reader.read(camera, np.arange(reader.num_frames)), episodes, frames, expected)


def test_random_access_does_not_depend_on_order(reader):
    sequential = {camera: reader.read(camera, np.arange(reader.num_frames)) for camera in (FRONT, WRIST)}
    fresh = LeRobotDatasetReader(FIXTURE)
    order = np.random.default_rng(0).permutation(reader.num_frames)
    for i in order:  # one frame at a time: seeks backwards and forwards across episode boundaries
        item = fresh.frame(int(i), keys=[WRIST, FRONT])
        assert set(item) == {WRIST, FRONT, 'task'}
        for camera in (FRONT, WRIST):
            np.testing.assert_array_equal(item[camera], sequential[camera][i])
    shuffled = fresh.read(FRONT, order[:20])  # one call, unsorted, with repeats
    np.testing.assert_array_equal(shuffled, sequential[FRONT][order[:20]])
    np.testing.assert_array_equal(fresh.read(FRONT, [5, 5, 4]), sequential[FRONT][[5, 5, 4]])


def test_a_time_between_frames_is_an_error_not_a_neighbour():
    decoder = VideoDecoder()
    path = FIXTURE / 'videos' / FRONT / 'chunk-000' / 'file-000.mp4'
    assert decoder.frames(path, [0.1]).shape == (1, 48, 64, 3)
    with pytest.raises(FrameTimestampError, match='no frame at'):
        decoder.frames(path, [0.5 / 30])
    with pytest.raises(FrameTimestampError, match='past the last frame'):
        decoder.frames(path, [44 / 30])


def test_columns_without_cameras_never_touch_the_videos(tmp_path):
    root = tmp_path / 'no_videos'
    shutil.copytree(FIXTURE, root)
    shutil.rmtree(root / 'videos')
    dataset = LeRobotTorchDataset(root, keys=['observation.state', 'action'],
                                  delta_timestamps={'action': [0, 1 / 30]})
    item = dataset[0]
    assert set(item) == {'observation.state', 'action', 'action_is_pad', 'task'}
    with pytest.raises(FileNotFoundError):
        dataset.reader.read(FRONT, [0])


def test_inconsistent_or_unknown_datasets_are_refused(tmp_path):
    with pytest.raises(DatasetError, match='info.json is missing'):
        LeRobotDatasetReader(tmp_path)
    root = tmp_path / 'broken'
    shutil.copytree(FIXTURE, root)
    info_path = root / 'meta' / 'info.json'
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, 'codebase_version': 'v1.6'}))
    with pytest.raises(DatasetError, match="'v1.6' is not readable"):
        LeRobotDatasetReader(root)
    info_path.write_text(json.dumps({**info, 'total_episodes': 4}))
    with pytest.raises(DatasetError, match='says 4 episodes'):
        LeRobotDatasetReader(root)
    info_path.write_text(json.dumps({**info, 'total_frames': 50}))
    with pytest.raises(DatasetError, match='total_frames is 50'):
        LeRobotDatasetReader(root)
    info_path.write_text(json.dumps(info))
    (root / 'data' / 'chunk-000' / 'file-000.parquet').write_bytes(b'PAR1 cut short')
    with pytest.raises(DatasetError, match='not a readable parquet file'):
        LeRobotDatasetReader(root)


def test_episodes_spread_over_many_files(tmp_path):
    """dojo's writer with tiny file limits starts new data and video files for every episode."""
    features = {key: value for key, value in fixture.features().items() if key not in ('next.reward', 'next.done')}
    writer = DatasetWriter.create(tmp_path / 'multi', 'test/multi', fps=30, features=features,
                                  data_files_size_in_mb=1e-4, video_files_size_in_mb=1e-4)
    with writer:
        for e, (length, task) in enumerate(fixture.EPISODES):
            for f in range(length):
                frame = {'observation.state': fixture.state(e, f), 'action': fixture.action(e, f)}
                writer.add_frame({**frame, **{key: fixture.synthetic_frame(key, e, f) for key in fixture.CAMERAS}}, task)
            writer.save_episode()
    reader = LeRobotDatasetReader(tmp_path / 'multi')
    assert len({ep.data_path for ep in reader.episodes}) == 3
    assert len({ep.videos[FRONT].path for ep in reader.episodes}) == 3
    assert all(ep.videos[WRIST].from_timestamp == 0.0 for ep in reader.episodes)
    episodes, frames = reader.column('episode_index'), reader.column('frame_index')
    np.testing.assert_array_equal(reader.column('action'),
                                  np.stack([fixture.action(e, f) for e, f in zip(episodes, frames)]))
    order = np.random.default_rng(2).permutation(reader.num_frames)
    for camera in (FRONT, WRIST):
        expected = {(e, f): fixture.synthetic_frame(camera, e, f)
                    for e, (length, _) in enumerate(fixture.EPISODES) for f in range(length)}
        assert_frames_match(camera, reader.read(camera, order), episodes[order], frames[order], expected)


# --- v2.1 -----------------------------------------------------------------------------------

V21_EPISODES = ((10, fixture.TASKS[1]), (7, fixture.TASKS[0]))


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format='PNG')
    return buffer.getvalue()


def _write_mp4(path: Path, images: list[np.ndarray], fps: int) -> None:
    """h264 with B-frames (decode order differs from presentation order), pts = frame number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = 'yuv420p'
        stream.time_base = Fraction(1, fps)
        stream.options = {'crf': '18', 'g': '4', 'bframes': '2'}
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_v21_dataset(root: Path) -> None:
    """LeRobot v2.1 (lerobot <= 0.3.3): one parquet + one mp4 per episode, JSON-lines metadata.

    chunks_size 1 puts each episode in its own chunk directory, so the chunk arithmetic is used.
    The front camera is a video; the wrist camera is an `image` feature (PNG bytes in parquet).
    """
    fps = 30
    vector = {'dtype': 'float32', 'shape': [6], 'names': [f'{j}.pos' for j in fixture.JOINTS]}
    scalar = {'shape': [1], 'names': None}
    features = {
        'observation.state': vector, 'action': vector,
        FRONT: {'dtype': 'video', 'shape': [48, 64, 3], 'names': ['height', 'width', 'channels'],
                'info': {'video.fps': fps, 'video.codec': 'h264', 'video.pix_fmt': 'yuv420p'}},
        WRIST: {'dtype': 'image', 'shape': [24, 32, 3], 'names': ['height', 'width', 'channels']},
        'timestamp': {'dtype': 'float32', **scalar}, 'frame_index': {'dtype': 'int64', **scalar},
        'episode_index': {'dtype': 'int64', **scalar}, 'index': {'dtype': 'int64', **scalar},
        'task_index': {'dtype': 'int64', **scalar},
    }
    info = {'codebase_version': 'v2.1', 'robot_type': 'so101_follower', 'total_episodes': len(V21_EPISODES),
            'total_frames': sum(n for n, _ in V21_EPISODES), 'total_tasks': 2, 'total_videos': len(V21_EPISODES),
            'total_chunks': len(V21_EPISODES), 'chunks_size': 1, 'fps': fps, 'splits': {'train': '0:2'},
            'data_path': 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet',
            'video_path': 'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4',
            'features': features}
    tasks = {task: i for i, task in enumerate(fixture.TASKS)}
    meta = root / 'meta'
    meta.mkdir(parents=True)
    (meta / 'info.json').write_text(json.dumps(info))
    (meta / 'tasks.jsonl').write_text(''.join(json.dumps({'task_index': i, 'task': t}) + '\n'
                                              for t, i in tasks.items()))
    episode_lines, stats_lines, start = [], [], 0
    for e, (length, task) in enumerate(V21_EPISODES):
        states = np.stack([fixture.state(e, f) for f in range(length)])
        actions = np.stack([fixture.action(e, f) for f in range(length)])
        vec = pa.list_(pa.float32(), 6)
        pngs = [{'bytes': _png(fixture.synthetic_frame(WRIST, e, f)), 'path': None} for f in range(length)]
        table = pa.table({
            'observation.state': pa.array(list(states), type=vec), 'action': pa.array(list(actions), type=vec),
            WRIST: pa.array(pngs, type=pa.struct([('bytes', pa.binary()), ('path', pa.string())])),
            'timestamp': pa.array(np.arange(length) / fps, type=pa.float32()),
            'frame_index': pa.array(np.arange(length)), 'episode_index': pa.array(np.full(length, e)),
            'index': pa.array(np.arange(start, start + length)), 'task_index': pa.array(np.full(length, tasks[task])),
        })
        data_path = root / info['data_path'].format(episode_chunk=e, episode_index=e)
        data_path.parent.mkdir(parents=True)
        pq.write_table(table, data_path)
        _write_mp4(root / info['video_path'].format(episode_chunk=e, video_key=FRONT, episode_index=e),
                   [fixture.synthetic_frame(FRONT, e, f) for f in range(length)], fps)
        episode_lines.append(json.dumps({'episode_index': e, 'tasks': [task], 'length': length}))
        stats = {key: {k: v.tolist() for k, v in numeric_stats(values).items() if not k.startswith('q')}
                 for key, values in (('observation.state', states), ('action', actions))}
        stats_lines.append(json.dumps({'episode_index': e, 'stats': stats}))
        start += length
    (meta / 'episodes.jsonl').write_text('\n'.join(episode_lines) + '\n')
    (meta / 'episodes_stats.jsonl').write_text('\n'.join(stats_lines) + '\n')


@pytest.fixture(scope='module')
def v21_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('v21') / 'dataset'
    write_v21_dataset(root)
    return root


def test_v21_dataset(v21_root):
    reader = LeRobotDatasetReader(v21_root)
    assert reader.info['codebase_version'] == 'v2.1'
    assert (reader.num_episodes, reader.num_frames) == (2, 17)
    assert reader.video_keys == [FRONT] and reader.camera_keys == [FRONT, WRIST]
    assert [ep.frames for ep in reader.episodes] == [range(0, 10), range(10, 17)]
    assert reader.episodes[1].videos[FRONT].path.parent.parent.name == 'chunk-001'
    episodes, frames = reader.column('episode_index'), reader.column('frame_index')
    all_states = np.stack([fixture.state(e, f) for e, f in zip(episodes, frames)])
    np.testing.assert_array_equal(reader.column('observation.state'), all_states)
    np.testing.assert_array_equal(reader.read('action', [16]), [fixture.action(1, 6)])
    assert [reader.task(i) for i in (0, 9, 10, 16)] == [fixture.TASKS[1]] * 2 + [fixture.TASKS[0]] * 2
    # per-episode stats merged into dataset stats: exact for min, max, mean, std and count
    merged = reader.stats['observation.state']
    for stat, value in numeric_stats(all_states).items():
        if not stat.startswith('q'):
            np.testing.assert_allclose(merged[stat], value, rtol=1e-9, atol=1e-9)
    front = {(e, f): fixture.synthetic_frame(FRONT, e, f) for e, (n, _) in enumerate(V21_EPISODES) for f in range(n)}
    order = np.random.default_rng(1).permutation(reader.num_frames)
    assert_frames_match(FRONT, reader.read(FRONT, order), episodes[order], frames[order], front)
    for i in order[:5]:  # PNG in parquet: lossless
        np.testing.assert_array_equal(reader.frame(int(i), keys=[WRIST])[WRIST],
                                      fixture.synthetic_frame(WRIST, int(episodes[i]), int(frames[i])))


# --- torch dataset --------------------------------------------------------------------------

def test_delta_timestamp_windows_are_clamped_to_the_episode_with_pad_masks(reader):
    dataset = LeRobotTorchDataset(reader, delta_timestamps={
        'action': [i / 30 for i in range(5)],
        'observation.state': [-2 / 30, -1 / 30, 0.0],
        FRONT: [-1 / 30, 0.0],
    })
    assert len(dataset) == reader.num_frames
    first_of_episode_1 = dataset[12]
    assert first_of_episode_1['episode_index'] == 1 and first_of_episode_1['frame_index'] == 0
    np.testing.assert_array_equal(first_of_episode_1['observation.state_is_pad'], [True, True, False])
    np.testing.assert_array_equal(first_of_episode_1['observation.state'].numpy(),
                                  np.stack([fixture.state(1, 0)] * 3))  # padding repeats the edge frame
    np.testing.assert_array_equal(first_of_episode_1[f'{FRONT}_is_pad'], [True, False])
    images = first_of_episode_1[FRONT]
    assert images.shape == (2, 3, 48, 64) and images.dtype == torch.float32
    expected = torch.from_numpy(reader.read(FRONT, [12])[0]).permute(2, 0, 1).float() / 255
    assert torch.equal(images[0], expected) and torch.equal(images[1], expected)
    last_of_episode_1 = dataset[28]  # frame 16 of 17
    np.testing.assert_array_equal(last_of_episode_1['action_is_pad'], [False, True, True, True, True])
    np.testing.assert_array_equal(last_of_episode_1['action'].numpy(), np.stack([fixture.action(1, 16)] * 5))
    inside = dataset[14]
    assert not inside['action_is_pad'].any()
    np.testing.assert_array_equal(inside['action'].numpy(), np.stack([fixture.action(1, f) for f in range(2, 7)]))
    assert inside[WRIST].shape == (3, 24, 32) and 0.0 <= float(inside[WRIST].min()) <= float(inside[WRIST].max()) <= 1.0
    assert inside['task'] == 'put the cube in the bin' and inside['next.reward'].shape == ()


def test_delta_timestamps_must_be_whole_frames_of_known_keys(reader):
    with pytest.raises(ValueError, match='not a multiple of 1/30'):
        LeRobotTorchDataset(reader, delta_timestamps={'action': [0.0, 0.05]})
    with pytest.raises(KeyError, match='not among the returned keys'):
        LeRobotTorchDataset(reader, keys=['observation.state'], delta_timestamps={'action': [0.0]})
    with pytest.raises(KeyError, match='not features'):
        LeRobotTorchDataset(reader, keys=['observation.images.top'])


def test_episode_subset_for_held_out_splits(reader):
    train = LeRobotTorchDataset(reader, episodes=[0, 2], keys=['episode_index', 'frame_index'])
    held_out = LeRobotTorchDataset(reader, episodes=[1], keys=['episode_index'])
    assert (len(train), len(held_out)) == (12 + 15, 17)
    assert {int(train[i]['episode_index']) for i in range(len(train))} == {0, 2}
    assert int(train[12]['episode_index']) == 2 and int(train[12]['frame_index']) == 0
    assert {int(held_out[i]['episode_index']) for i in range(len(held_out))} == {1}
    with pytest.raises(KeyError, match='not in the dataset'):
        LeRobotTorchDataset(reader, episodes=[3])


def test_dataloader_with_two_workers_matches_direct_reads(reader):
    dataset = LeRobotTorchDataset(reader, delta_timestamps={'action': [0, 1 / 30, 2 / 30], FRONT: [-1 / 30, 0]})
    direct = [dataset[i] for i in range(len(dataset))]  # opens decoders here, before the workers fork
    clone = pickle.loads(pickle.dumps(dataset))  # spawn-style workers get a pickled copy
    assert torch.equal(clone[7][FRONT], direct[7][FRONT])
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, num_workers=2, shuffle=False)
    start = 0
    for batch in loader:
        n = len(batch['index'])
        for key in ('action', 'action_is_pad', FRONT, f'{FRONT}_is_pad', WRIST, 'observation.state'):
            assert torch.equal(batch[key], torch.stack([direct[start + j][key] for j in range(n)])), key
        assert batch['task'] == [direct[start + j]['task'] for j in range(n)]
        start += n
    assert start == len(dataset)
