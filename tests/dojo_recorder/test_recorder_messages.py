"""recorder_node fed by a synthetic robot in this process: bad messages, live == converted bag, push,
parameters applied at configure (max_episode_s), and a second recorder refused by the dataset lock.

The test publishes every message itself (stamped with the wall clock, which the recorder also
uses), so it knows exactly what the recorder received. For the live-versus-bag test it writes the
same messages, with the same stamps, into mcap and sqlite3 bags with rosbags (serialised through
the Jazzy typestore) and converts them with dojo_core.rosbag.convert. The feature map's latency
is 0.5 s so that a loaded machine cannot make a live message late (the one way live and offline
frames may differ; see dojo_core.sync.assembler).
"""
from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import rclpy
import yaml
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from dojo_core.dataset import VideoEncoderConfig, validate
from dojo_core.episode_status import STATUS_SERVICE, reply_episode, was_saved
from dojo_core.recording import DatasetSettings, load_features
from dojo_core.robot import JOINT_NAMES
from dojo_core.rosbag import convert
from dojo_ros.image import numpy_to_image
from dojo_ros.joint_state import vector_to_joint_state
from dojo_ros.process import NodeProcess
from dojo_ros.qos import COMMAND_QOS, LATCHED_QOS

pytestmark = pytest.mark.slow  # a live recorder fed in real time

TS = get_typestore(Stores.ROS2_JAZZY)
FPS = 30
WIDTH, HEIGHT = 64, 48
CAMERA = 'observation.images.front'
TASK = 'stack the blocks'
RECORDER_YAML = Path(__file__).resolve().parents[2] / 'config' / 'recorder.yaml'
ROSBAG_TYPES = {JointState: 'sensor_msgs/msg/JointState', Image: 'sensor_msgs/msg/Image', String: 'std_msgs/msg/String'}


def write_feature_map(path: Path) -> Path:
    joints = {'type': 'sensor_msgs/msg/JointState', 'joints': list(JOINT_NAMES)}
    path.write_text(yaml.safe_dump({
        'fps': FPS, 'latency': 0.5, 'task_topic': 'task',
        'features': {
            'observation.state': {'topic': 'joint_states', **joints, 'max_age': 0.1},
            'action': {'topic': 'joint_commands', **joints, 'max_age': math.inf},
            CAMERA: {'topic': 'cameras/front/image_raw', 'type': 'sensor_msgs/msg/Image', 'width': WIDTH,
                     'height': HEIGHT, 'encoding': 'rgb8', 'max_age': 0.1},
        }}))
    return path


def pattern(step: int) -> np.ndarray:
    """A smooth image that moves with the step (smooth, so that video coding keeps it close)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH] / 32.0
    r = 128 + 80 * np.sin(2 * np.pi * (0.5 * x + 0.03 * step))
    g = 128 + 80 * np.cos(2 * np.pi * (0.4 * y - 0.02 * step))
    b = np.full_like(r, 60 + step % 100)
    return np.stack([r, g, b], axis=-1).round().astype(np.uint8)


def state(step: int) -> np.ndarray:
    return np.linspace(-0.5, 0.5, len(JOINT_NAMES)) + 0.01 * step


class SyntheticRobot(Node):
    """Publishes the recorder's topics and remembers every message it sent (for the bags)."""

    def __init__(self, process: NodeProcess, root: Path, tmp: Path) -> None:
        super().__init__('synthetic_robot')
        self.process, self.root, self.tmp = process, root, tmp   # the recorder, its dataset, scratch space
        self.pubs = {'joint_states': self.create_publisher(JointState, 'joint_states', 10),
                     'joint_commands': self.create_publisher(JointState, 'joint_commands', COMMAND_QOS),
                     'cameras/front/image_raw': self.create_publisher(Image, 'cameras/front/image_raw', 10),
                     'task': self.create_publisher(String, 'task', LATCHED_QOS)}
        self.recorder_services = {name: self.create_client(Trigger, f'recorder_node/{name}')
                         for name in ('start_episode', 'stop_episode', 'push_to_hub')}
        self.change_state = self.create_client(ChangeState, 'recorder_node/change_state')
        self.set_parameters = self.create_client(SetParameters, 'recorder_node/set_parameters')
        self.diagnostics: list[DiagnosticArray] = []
        self.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)
        self.sent: list[tuple[int, str, object]] = []   # (log time ns, topic, message)

    def publish(self, topic: str, msg) -> None:
        self.pubs[topic].publish(msg)
        self.sent.append((self.get_clock().now().nanoseconds, topic, msg))

    def step(self, k: int, stamp_ns: int) -> None:
        stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        self.publish('joint_states', vector_to_joint_state(JOINT_NAMES, state(k), stamp=stamp))
        self.publish('joint_commands', vector_to_joint_state(JOINT_NAMES, -state(k), stamp=stamp))
        self.publish('cameras/front/image_raw', numpy_to_image(pattern(k), 'rgb8', stamp=stamp))

    def run(self, steps: int, bad=None) -> None:
        """``steps`` steps stamped exactly one period apart, each published once its stamp is due
        (so the dataset's ticks meet them one to one); ``bad(k, stamp_ns)`` may add messages half a
        period later."""
        period = 1_000_000_000 // FPS
        start = self.get_clock().now().nanoseconds
        for k in range(steps):
            t = start + round(k * 1e9 / FPS)   # the dataset's tick times, to the nanosecond
            self.spin_until(lambda: self.get_clock().now().nanoseconds >= t, 1.0)
            self.step(k, t)
            if bad is not None:
                bad(k, t + period // 2)

    def spin_until(self, predicate, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.005)
            if predicate():
                return True
        return False

    def call(self, client, request):
        assert client.wait_for_service(timeout_sec=30), f'{client.srv_name} not available'
        future = client.call_async(request)
        assert self.spin_until(future.done, 60), f'{client.srv_name} did not answer'
        return future.result()

    def trigger(self, name: str) -> Trigger.Response:
        return self.call(self.recorder_services[name], Trigger.Request())

    def recording_status(self) -> dict[str, str]:
        found = [s for arr in self.diagnostics for s in arr.status if s.name == 'recorder_node: recording']
        return {kv.key: kv.value for kv in found[-1].values} if found else {}

    def episode(self, steps: int, bad=None) -> Trigger.Response:
        """Start, publish, stop: the messages of exactly one episode, which `sent` then holds."""
        started = self.trigger('start_episode')
        assert started.success, started.message
        self.sent.clear()
        self.run(steps, bad)
        return self.trigger('stop_episode')

    def write_bag(self, path: Path, storage: StoragePlugin) -> Path:
        """`sent` (and the latched task) as a rosbag2 bag; messages re-created through the typestore."""
        connections = {}
        first = self.sent[0][0]
        with Writer(path, version=9, storage_plugin=storage) as writer:
            for log_ns, topic, msg in [(first + 1_000_000, 'task', String(data=TASK)), *self.sent]:
                msgtype = ROSBAG_TYPES[type(msg)]
                if topic not in connections:
                    connections[topic] = writer.add_connection(f'/{topic}', msgtype, typestore=TS)
                writer.write(connections[topic], log_ns, TS.serialize_cdr(to_rosbags(msg, msgtype), msgtype))
        return path


def to_rosbags(msg, msgtype: str):
    """The rosbags dataclass with the same field values as an rclpy message."""
    types = TS.types
    if msgtype == 'std_msgs/msg/String':
        return types[msgtype](data=msg.data)
    stamp = types['builtin_interfaces/msg/Time'](sec=msg.header.stamp.sec, nanosec=msg.header.stamp.nanosec)
    header = types['std_msgs/msg/Header'](stamp=stamp, frame_id=msg.header.frame_id)
    if msgtype == 'sensor_msgs/msg/JointState':
        return types[msgtype](header=header, name=list(msg.name), position=np.array(msg.position, np.float64),
                              velocity=np.array(msg.velocity, np.float64), effort=np.array(msg.effort, np.float64))
    return types[msgtype](header=header, height=msg.height, width=msg.width, encoding=msg.encoding,
                          is_bigendian=msg.is_bigendian, step=msg.step, data=np.frombuffer(bytes(msg.data), np.uint8))


@pytest.fixture(scope='module')
def robot(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('recorder')
    env = {'HF_ENDPOINT': 'http://127.0.0.1:9', 'HF_TOKEN': 'hf_test'}   # the Hub is unreachable here
    log = tmp / 'recorder.log'
    with NodeProcess('dojo_recorder.recorder_node', params_file=RECORDER_YAML, log_path=log, env=env,
                     parameters={'root': str(tmp / 'live'), 'repo_id': 'test/messages', 'video_codec': 'libx264',
                                 'features': str(write_feature_map(tmp / 'features.yaml'))}) as process:
        rclpy.init()
        try:
            robot = SyntheticRobot(process, tmp / 'live', tmp)
            robot.pubs['task'].publish(String(data=TASK))
            assert robot.spin_until(lambda: robot.recording_status().get('task') == TASK, 60), log.read_text()
            yield robot
            robot.destroy_node()
        finally:
            rclpy.shutdown()
        assert process.stop() == 0, log.read_text()


def read_column(root: Path, name: str) -> np.ndarray:
    tables = [pq.read_table(p) for p in sorted((root / 'data').glob('*/*.parquet'))]
    return np.concatenate([np.stack(t.column(name).to_pylist()) for t in tables])


def read_episodes(root: Path) -> list[dict]:
    return [row for p in sorted((root / 'meta/episodes').glob('*/*.parquet')) for row in pq.read_table(p).to_pylist()]


def decode(root: Path) -> np.ndarray:
    frames = []
    for path in sorted((root / 'videos' / CAMERA).glob('*/*.mp4')):
        with av.open(str(path)) as container:
            frames += [frame.to_ndarray(format='rgb24') for frame in container.decode(video=0)]
    return np.stack(frames).astype(np.int16)


def episode_rows(root: Path, index: int) -> slice:
    row = read_episodes(root)[index]
    return slice(row['dataset_from_index'], row['dataset_to_index'])


def test_bad_messages_are_counted_dropped_and_never_crash_the_recorder(robot):
    def bad(k: int, stamp_ns: int) -> None:
        stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        if k == 3:
            robot.publish('joint_states', vector_to_joint_state(JOINT_NAMES, [math.nan] * 6, stamp=stamp))
        if k == 5:
            robot.publish('joint_states', vector_to_joint_state(JOINT_NAMES[:5], [0.0] * 5, stamp=stamp))
        if k == 7:
            robot.publish('cameras/front/image_raw', numpy_to_image(pattern(0)[:24, :32].copy(), 'rgb8', stamp=stamp))
        if k == 9:
            robot.publish('cameras/front/image_raw', numpy_to_image(pattern(0), 'bgr8', stamp=stamp))

    reply = robot.episode(20, bad)

    assert reply.success, reply.message
    assert 'rejected missing_joint 1, non_finite 1, wrong_encoding 1, wrong_size 1' in reply.message, reply.message
    assert re.search(r'saved: 20 frames.*0 dropped', reply.message), reply.message
    robot.diagnostics.clear()
    assert robot.spin_until(lambda: robot.recording_status().get('episodes_saved') == '1', 10)
    status = robot.recording_status()
    assert all(status[f'rejected.{reason}'] == '1'
               for reason in ('missing_joint', 'non_finite', 'wrong_encoding', 'wrong_size')), status
    assert robot.process.alive() and validate(robot.root) == []
    rows = episode_rows(robot.root, 0)
    np.testing.assert_array_equal(read_column(robot.root, 'observation.state')[rows],
                                  [state(k).astype(np.float32) for k in range(20)])


def test_a_message_stamped_an_hour_ahead_is_refused_and_poisons_nothing(robot):
    """One well-formed joint state stamped 1 h in the future, mid-episode: refused and counted, every
    later real message still recorded, and the stop ends at the stop time (not an hour of ticks later)."""
    def future(k: int, stamp_ns: int) -> None:
        if k == 5:
            ahead = stamp_ns + 3600 * 1_000_000_000
            robot.publish('joint_states', vector_to_joint_state(
                JOINT_NAMES, state(k), stamp=Time(sec=ahead // 1_000_000_000, nanosec=ahead % 1_000_000_000)))

    robot.diagnostics.clear()
    reply = robot.episode(20, future)

    assert reply.success, reply.message
    assert re.search(r'saved: 20 frames.*, 0 dropped, rejected future 1', reply.message), reply.message
    index = int(re.search(r'episode (\d+) saved', reply.message)[1])
    np.testing.assert_array_equal(read_column(robot.root, 'observation.state')[episode_rows(robot.root, index)],
                                  [state(k).astype(np.float32) for k in range(20)])
    assert robot.spin_until(lambda: robot.recording_status().get('rejected.future') == '1', 10)
    assert robot.process.alive()


def test_a_live_episode_and_its_bag_converted_give_the_same_frames(robot):
    reply = robot.episode(45)
    assert reply.success, reply.message
    index = int(re.search(r'episode (\d+) saved', reply.message)[1])
    live = episode_rows(robot.root, index)
    live_images = decode(robot.root)[live]
    converted = {}
    for storage in (StoragePlugin.MCAP, StoragePlugin.SQLITE3):
        name = storage.name.lower()
        bag = robot.write_bag(robot.tmp / f'bag_{name}', storage)
        root = robot.tmp / f'converted_{name}'
        settings = DatasetSettings(root=root, repo_id='test/converted', video=VideoEncoderConfig(codec='libx264'))
        (result,) = convert([bag], load_features(robot.tmp / 'features.yaml'), settings).episodes
        assert result.saved and validate(root) == [], result.message()
        converted[name] = root

    for root in converted.values():
        assert read_episodes(root)[0]['length'] == live.stop - live.start == 45
        assert read_episodes(root)[0]['tasks'] == read_episodes(robot.root)[index]['tasks'] == [TASK]
        for column in ('observation.state', 'action'):
            np.testing.assert_array_equal(read_column(root, column), read_column(robot.root, column)[live])
        images = decode(root)
        assert np.abs(images - live_images).max() <= 2   # the same frames through the same encoder
    # and they are the published images, in order: each decoded frame is closest to its own step
    expected = np.stack([pattern(k) for k in range(45)]).astype(np.int16)
    errors = np.abs(live_images[:, None] - expected[None]).mean(axis=(2, 3, 4))   # [frame, step]
    assert list(errors.argmin(axis=1)) == list(range(45)) and errors.diagonal().max() < 8


def test_push_to_hub_validates_then_reports_the_network_failure(robot):
    reply = robot.trigger('push_to_hub')
    assert not reply.success
    assert 'push to test/messages failed' in reply.message and 'Connect' in reply.message, reply.message
    assert robot.process.alive()


def test_parameters_apply_at_the_next_configure_and_max_episode_s_saves_the_episode(robot):
    request = SetParameters.Request(parameters=[Parameter('max_episode_s', value=0.5).to_parameter_msg()])
    assert robot.call(robot.set_parameters, request).results[0].successful
    for transition in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP,
                       Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        assert robot.call(robot.change_state, ChangeState.Request(transition=Transition(id=transition))).success
    assert 'resuming' in (robot.tmp / 'recorder.log').read_text()
    robot.diagnostics.clear()
    assert robot.spin_until(lambda: robot.recording_status().get('active') == 'True', 10)
    saved = int(robot.recording_status()['episodes_saved'])
    assert robot.trigger('start_episode').success
    robot.run(45)   # 1.5 s of messages; the recorder stops by itself after 0.5 s

    assert robot.spin_until(lambda: robot.recording_status().get('episodes_saved') == str(saved + 1), 10)
    last = robot.recording_status()['last_episode']
    frames = int(re.search(rf'episode {saved} saved: (\d+) frames', last)[1])
    assert frames in range(15, 18), last   # 0.5 s at 30 fps, and the ticks of the stop's instant
    assert not robot.trigger('stop_episode').success   # nothing left to stop
    assert '[max_episode_s (0.5 s) reached]' in (robot.tmp / 'recorder.log').read_text()
    assert validate(robot.root) == []


def test_a_second_recorder_on_the_same_dataset_fails_configure_and_stays_up(robot):
    log = robot.tmp / 'second.log'
    with NodeProcess('dojo_recorder.recorder_node', params_file=RECORDER_YAML, log_path=log,
                     parameters={'root': str(robot.root), 'repo_id': 'test/messages', 'video_codec': 'libx264',
                                 'features': str(robot.tmp / 'features.yaml')},
                     ros_args=['-r', '__node:=second_recorder']) as second:
        def status() -> dict[str, str]:
            found = [s for arr in robot.diagnostics for s in arr.status if s.name == 'second_recorder: recording']
            return {'level': found[-1].level, 'message': found[-1].message} if found else {}
        assert robot.spin_until(lambda: 'configure failed' in status().get('message', ''), 60), log.read_text()
        assert status()['level'] == DiagnosticStatus.ERROR and 'another writer' in status()['message']
        assert second.alive()
    assert robot.process.alive() and validate(robot.root) == []


def test_a_client_learns_from_episode_status_that_its_episode_was_saved_by_a_recorder_killed_meanwhile(robot):
    """The recorder is SIGKILLed right after the commit point of a stop_episode call (the reply may
    never come); restarted on the same dataset, its episode_status says the episode was saved."""
    root, features = robot.tmp / 'killed', str(robot.tmp / 'features.yaml')

    def start() -> NodeProcess:
        return NodeProcess('dojo_recorder.recorder_node', params_file=RECORDER_YAML, log_path=robot.tmp / 'killed.log',
                           parameters={'root': str(root), 'repo_id': 'test/killed', 'video_codec': 'libx264',
                                       'features': features, 'task': TASK},
                           ros_args=['-r', '__node:=killed_recorder']).start()

    def ask_status() -> Trigger.Response:
        """The status of the recorder once it answers and is configured (a restarted one may still be
        listed under the killed one's endpoints, which never answer: ask again)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            future = services[STATUS_SERVICE].call_async(Trigger.Request())
            if robot.spin_until(future.done, 2.0) and future.result().success:
                return future.result()
            services[STATUS_SERVICE].remove_pending_request(future)
        raise AssertionError((robot.tmp / 'killed.log').read_text())

    services = {name: robot.create_client(Trigger, f'killed_recorder/{name}')
                for name in ('start_episode', 'stop_episode', STATUS_SERVICE)}
    process = start()
    try:
        status = json.loads(ask_status().message)
        assert status == {'recording': False, 'episode_index': 0, 'episodes_saved': 0, 'last': None}
        started = robot.call(services['start_episode'], Trigger.Request())
        index = reply_episode(started.message)
        assert started.success and index == 0, started.message
        robot.run(20)
        pending = services['stop_episode'].call_async(Trigger.Request())
        committed = root / 'meta/episodes/chunk-000/file-000.parquet'
        assert robot.spin_until(committed.exists, 30), (robot.tmp / 'killed.log').read_text()
        process.process.kill()                      # at the commit point: the reply may be lost
        process.process.wait()
        robot.spin_until(lambda: False, 0.3)
        process = start()
        answer = ask_status()
        assert was_saved(answer.message, index), (answer.message, pending.done())
        assert not was_saved(answer.message, index + 1)
        assert json.loads(answer.message)['episodes_saved'] == 1
    finally:
        process.stop()
        for client in services.values():
            robot.destroy_client(client)
    assert validate(root) == [] and read_episodes(root)[0]['length'] == 20


@pytest.mark.parametrize('gap_s', [0.001, 0.003, 0.01])
def test_two_quick_signals_still_save_the_episode_in_progress(robot, signal_twice, gap_s):
    """Ctrl-C under launch: the terminal's SIGINT and launch's copy ~3 ms apart, mid-episode. The
    second must not interrupt the save of the episode in progress."""
    import signal

    root, features = robot.tmp / f'signalled_{gap_s}', str(robot.tmp / 'features.yaml')
    # a name of its own: the previous case's recorder may still be listed, and a request sent to it is lost
    name = f'signalled_recorder_{round(gap_s * 1000)}ms'
    process = NodeProcess('dojo_recorder.recorder_node', params_file=RECORDER_YAML, log_path=robot.tmp / 'sig.log',
                          parameters={'root': str(root), 'repo_id': 'test/signalled', 'video_codec': 'libx264',
                                      'features': features, 'task': TASK},
                          ros_args=['-r', f'__node:={name}']).start()
    start = robot.create_client(Trigger, f'{name}/start_episode')
    try:
        # its diagnostics heard first: the service can be listed before the recorder has matched our response
        # reader, and DDS then drops the answer (seen as a rare 'did not answer' at the 10 ms gap)
        assert robot.spin_until(lambda: any(s.name.startswith(f'{name}:') for arr in robot.diagnostics
                                            for s in arr.status)), f'{name} published no diagnostics'
        assert robot.call(start, Trigger.Request()).success
        robot.run(20)
        code = signal_twice(process, signal.SIGINT, signal.SIGINT, gap_s)
    finally:
        robot.destroy_client(start)
        process.stop()
    log = (robot.tmp / 'sig.log').read_text()
    assert code == 0 and 'Traceback' not in log, log
    assert validate(root) == [] and read_episodes(root)[0]['length'] >= 19, log

