"""`dojo convert`: rosbag2 bags written with rosbags (mcap and sqlite3) become LeRobot datasets.

Bags are written here with the `rosbags` Writer and messages serialised through the Jazzy
typestore, as a real bag would hold them; the datasets are read back with pyarrow and PyAV. Every
message carries its step number in its values, so a test knows exactly which message each frame
took. (That live recording and conversion of the same messages agree is tested against the
recorder node in tests/dojo_recorder/test_live_vs_bag.py.)
"""
from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from dojo_core.cli import main as dojo_main
from dojo_core.dataset import VideoEncoderConfig, validate
from dojo_core.recording import DatasetSettings, RecordingError, load_features
from dojo_core.robot.description import JOINT_NAMES
from dojo_core.rosbag import BagError, convert

TS = get_typestore(Stores.ROS2_JAZZY)
FPS = 10
PERIOD_NS = 1_000_000_000 // FPS
T0 = 1_700_000_000_000_000_000
WIDTH, HEIGHT = 32, 24
CAMERA = 'observation.images.front'
TASK = 'put the cube in the bin'


def write_feature_map(path: Path) -> Path:
    joints = {'type': 'sensor_msgs/msg/JointState', 'joints': list(JOINT_NAMES)}
    path.write_text(yaml.safe_dump({
        'fps': FPS, 'latency': 0.1, 'task_topic': 'task', 'robot_type': 'so101_follower',
        'features': {
            'observation.state': {'topic': 'joint_states', **joints, 'max_age': 0.15},
            'action': {'topic': 'joint_commands', **joints, 'max_age': math.inf},
            CAMERA: {'topic': 'cameras/front/image_raw', 'type': 'sensor_msgs/msg/Image', 'width': WIDTH,
                     'height': HEIGHT, 'encoding': 'rgb8', 'max_age': 0.15},
        }}))
    return path


@pytest.fixture()
def feature_map(tmp_path) -> Path:
    return write_feature_map(tmp_path / 'features.yaml')


def header(stamp_ns: int):
    stamp = TS.types['builtin_interfaces/msg/Time'](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return TS.types['std_msgs/msg/Header'](stamp=stamp, frame_id='')


def joint_state(stamp_ns: int, values, names=JOINT_NAMES):
    return TS.types['sensor_msgs/msg/JointState'](
        header=header(stamp_ns), name=list(names), position=np.asarray(values, dtype=np.float64),
        velocity=np.array([], dtype=np.float64), effort=np.array([], dtype=np.float64))


def image(stamp_ns: int, value: int, width=WIDTH, height=HEIGHT, encoding='rgb8'):
    return TS.types['sensor_msgs/msg/Image'](
        header=header(stamp_ns), height=height, width=width, encoding=encoding, is_bigendian=0, step=3 * width,
        data=np.full(height * width * 3, value, dtype=np.uint8))


def string(text: str):
    return TS.types['std_msgs/msg/String'](data=text)


def boolean(value: bool):
    return TS.types['std_msgs/msg/Bool'](data=value)


def state_values(step: int, episode: int = 0) -> np.ndarray:
    return np.linspace(-0.5, 0.5, len(JOINT_NAMES)) + 0.01 * step + episode


class Bag:
    """Messages to write, then written in log order to an mcap or sqlite3 rosbag2 bag."""

    def __init__(self) -> None:
        self.messages: list[tuple[int, str, str, object]] = []

    def add(self, log_ns: int, topic: str, msgtype: str, msg) -> None:
        self.messages.append((log_ns, topic, msgtype, msg))

    def steps(self, steps, *, episode: int = 0, command: bool = True, stamp=True) -> None:
        """State, camera (and command) messages stamped on tick `step`, logged 2 ms later."""
        for k in steps:
            t = T0 + k * PERIOD_NS
            stamp_ns = t if stamp else 0
            self.add(t + 2_000_000, '/joint_states', 'sensor_msgs/msg/JointState',
                     joint_state(stamp_ns, state_values(k, episode)))
            self.add(t + 2_000_000, '/cameras/front/image_raw', 'sensor_msgs/msg/Image', image(stamp_ns, 5 * k % 250))
            if command:
                self.add(t + 2_000_000, '/joint_commands', 'sensor_msgs/msg/JointState',
                         joint_state(stamp_ns, -state_values(k, episode)))

    def write(self, path: Path, storage: StoragePlugin = StoragePlugin.MCAP) -> Path:
        connections = {}
        with Writer(path, version=9, storage_plugin=storage) as writer:
            for log_ns, topic, msgtype, msg in sorted(self.messages, key=lambda m: m[0]):
                if topic not in connections:
                    connections[topic] = writer.add_connection(topic, msgtype, typestore=TS)
                writer.write(connections[topic], log_ns, TS.serialize_cdr(msg, msgtype))
        return path


def settings(root: Path) -> DatasetSettings:
    return DatasetSettings(root=root, repo_id='test/convert', video=VideoEncoderConfig(codec='libx264'))


def read_column(root: Path, name: str) -> np.ndarray:
    tables = [pq.read_table(p) for p in sorted((root / 'data').glob('*/*.parquet'))]
    return np.concatenate([np.stack(t.column(name).to_pylist()) for t in tables])


def read_episodes(root: Path) -> list[dict]:
    return [row for p in sorted((root / 'meta/episodes').glob('*/*.parquet')) for row in pq.read_table(p).to_pylist()]


def decoded_means(root: Path) -> np.ndarray:
    """Mean value of every frame of the camera, all files in order."""
    means = []
    for path in sorted((root / 'videos' / CAMERA).glob('*/*.mp4')):
        with av.open(str(path)) as container:
            means += [frame.to_ndarray(format='rgb24').mean() for frame in container.decode(video=0)]
    return np.array(means)


@pytest.mark.parametrize('storage', [StoragePlugin.MCAP, StoragePlugin.SQLITE3], ids=['mcap', 'sqlite3'])
def test_each_bag_is_an_episode_with_exactly_its_frames(tmp_path, feature_map, storage):
    bags = []
    for episode in range(2):
        bag = Bag()
        bag.steps(range(12), episode=episode)
        # rosbag2 logs the latched task when it subscribes, a little after the first sensor messages
        bag.add(T0 + 5_000_000, '/task', 'std_msgs/msg/String', string(f'{TASK} {episode}'))
        bags.append(bag.write(tmp_path / f'bag{episode}', storage))
    root = tmp_path / 'ds'

    report = convert(bags, load_features(feature_map), settings(root))

    assert [r.frames for r in report.saved] == [12, 12] and [r.index for r in report.saved] == [0, 1]
    assert all(r.dropped == 0 and r.rate_hz == FPS for r in report.saved), [r.message() for r in report.saved]
    assert validate(root) == []
    expected = np.concatenate([[state_values(k, e) for k in range(12)] for e in range(2)]).astype(np.float32)
    np.testing.assert_array_equal(read_column(root, 'observation.state'), expected)
    np.testing.assert_array_equal(read_column(root, 'action'), -expected)
    np.testing.assert_allclose(decoded_means(root), np.tile([5 * k for k in range(12)], 2), atol=2.0)
    assert [row['tasks'] for row in read_episodes(root)] == [[f'{TASK} 0'], [f'{TASK} 1']]


@pytest.mark.parametrize('markers, firsts, lengths, ignored', [
    # String markers: start/stop, a discarded episode, an unknown value, and an episode open at the end
    ([(5, 'start'), (15, 'stop'), (16, 'stop'), (18, 'start'), (22, 'discard'), (23, 'pause'), (25, 'start')],
     [5, 25], [10, 15], 2),
    # Bool markers: true starts, false stops; a start while recording saves and starts the next episode
    ([(5, True), (15, False), (25, True), (32, True)], [5, 25, 32], [10, 7, 8], 0),
], ids=['string', 'bool'])
def test_marker_topic_splits_episodes_and_held_commands_carry_in(tmp_path, feature_map, markers, firsts, lengths,
                                                                 ignored):
    bag = Bag()
    bag.add(T0 - 1, '/task', 'std_msgs/msg/String', string(TASK))
    command = np.full(len(JOINT_NAMES), 0.25)
    # one command long before any episode: the robot holds it, so every frame's action is this one
    bag.add(T0, '/joint_commands', 'sensor_msgs/msg/JointState', joint_state(T0, command))
    bag.steps(range(40), command=False)
    for step, value in markers:   # logged 1 ms before the step's messages
        msgtype, msg = ('std_msgs/msg/String', string(value)) if isinstance(value, str) else \
            ('std_msgs/msg/Bool', boolean(value))
        bag.add(T0 + step * PERIOD_NS - 1_000_000, '/episode_marker', msgtype, msg)
    root = tmp_path / 'ds'

    report = convert([bag.write(tmp_path / 'bag')], load_features(feature_map), settings(root),
                     marker_topic='episode_marker')

    assert [r.frames for r in report.saved] == lengths, [r.message() for r in report.episodes]
    assert report.ignored_markers == ignored
    assert validate(root) == []
    np.testing.assert_array_equal(read_column(root, 'action'), np.tile(command.astype(np.float32), (sum(lengths), 1)))
    first_states = read_column(root, 'observation.state')[np.cumsum([0, *lengths[:-1]])]
    np.testing.assert_array_equal(first_states, [state_values(step).astype(np.float32) for step in firsts])


def test_bad_messages_are_counted_and_never_reach_a_frame(tmp_path, feature_map):
    bag = Bag()
    bag.add(T0, '/task', 'std_msgs/msg/String', string(TASK))
    bag.steps(range(10))
    half = PERIOD_NS // 2   # between two good messages, so the stamps stay in order
    bag.add(T0 + 3 * PERIOD_NS + half, '/joint_states', 'sensor_msgs/msg/JointState',
            joint_state(T0 + 3 * PERIOD_NS + half, [math.nan] * len(JOINT_NAMES)))
    bag.add(T0 + 4 * PERIOD_NS + half, '/joint_states', 'sensor_msgs/msg/JointState',
            joint_state(T0 + 4 * PERIOD_NS + half, [0.0] * 5, names=JOINT_NAMES[:5]))
    bag.add(T0 + 5 * PERIOD_NS + half, '/cameras/front/image_raw', 'sensor_msgs/msg/Image',
            image(T0 + 5 * PERIOD_NS + half, 255, width=16, height=12))
    bag.add(T0 + 6 * PERIOD_NS + half, '/cameras/front/image_raw', 'sensor_msgs/msg/Image',
            image(T0 + 6 * PERIOD_NS + half, 255, encoding='bgr8'))
    root = tmp_path / 'ds'

    (result,) = convert([bag.write(tmp_path / 'bag')], load_features(feature_map), settings(root)).episodes

    assert result.rejected == {'non_finite': 1, 'missing_joint': 1, 'wrong_size': 1, 'wrong_encoding': 1}
    assert result.saved and result.frames == 10 and validate(root) == []
    np.testing.assert_array_equal(read_column(root, 'observation.state'),
                                  [state_values(k).astype(np.float32) for k in range(10)])
    assert decoded_means(root).max() < 100   # the white 255 images never became frames


def test_cli_timeline_override_records_unstamped_messages_on_log_time(tmp_path, feature_map, capsys):
    bag = Bag()
    bag.add(T0, '/task', 'std_msgs/msg/String', string(TASK))
    bag.steps(range(10), stamp=False)   # a driver that never stamps its messages
    path = bag.write(tmp_path / 'bag', StoragePlugin.SQLITE3)
    args = ['convert', str(path), '--features', str(feature_map), '--video-codec', 'libx264', '--quiet']

    assert dojo_main([*args, '--out', str(tmp_path / 'header')]) == 1
    assert 'zero_stamp' in capsys.readouterr().out

    assert dojo_main([*args, '--out', str(tmp_path / 'receive'), '--timeline', 'receive']) == 0
    out = capsys.readouterr().out
    assert 'episode 0 saved: 10 frames' in out and '1 episode(s), 10 frames' in out
    assert validate(tmp_path / 'receive') == []


def test_converting_into_an_existing_dataset_resumes_it_and_refuses_a_mismatch(tmp_path, feature_map, capsys):
    bag = Bag()
    bag.add(T0, '/task', 'std_msgs/msg/String', string(TASK))
    bag.steps(range(6))
    path = bag.write(tmp_path / 'bag')
    root = tmp_path / 'ds'
    args = ['convert', str(path), '--out', str(root), '--video-codec', 'libx264', '--quiet']

    assert dojo_main([*args, '--features', str(feature_map)]) == 0
    assert dojo_main([*args, '--features', str(feature_map), '--task', 'another task']) == 0
    assert 'resuming' in capsys.readouterr().out
    assert [(row['episode_index'], row['tasks']) for row in read_episodes(root)] == [(0, [TASK]), (1, ['another task'])]

    assert dojo_main([*args, '--features', str(feature_map), '--fps', '15']) == 1
    assert 'fps is 10, the map says 15' in capsys.readouterr().err
    with pytest.raises(RecordingError, match='does not match'):
        convert([path], load_features(feature_map, fps=15), settings(root))
    assert len(read_episodes(root)) == 2 and validate(root) == []


def test_bag_with_a_topic_of_another_type_is_refused(tmp_path, feature_map):
    bag = Bag()
    bag.add(T0, '/joint_states', 'std_msgs/msg/String', string('not a joint state'))
    with pytest.raises(BagError, match='/joint_states holds std_msgs/msg/String'):
        convert([bag.write(tmp_path / 'bag')], load_features(feature_map), settings(tmp_path / 'ds'))
    with pytest.raises(BagError, match='cannot read'):
        convert([tmp_path / 'missing'], load_features(feature_map), settings(tmp_path / 'ds2'))
