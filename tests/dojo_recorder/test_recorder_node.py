"""recorder_node against sim_node, both in their own processes, driven through services and lifecycle.

The sim runs in real time (real_time_factor 1) with small cameras; the recorder records on sim time
(use_sim_time) from a feature map written here to match those cameras, with libx264 for speed.
The test is the operator and the teleop: it publishes joint_commands (stamped on sim time, which
the sim executes and the recorder records as the action) and calls the recorder's services.

Drop budget: an episode covers the sim time between the start and stop replies, so it has
fps * span ticks, give or take 2 at each end (the first tick waits for every stream's first
message; the test reads /clock a little late). At most 3 + 10% of them may be dropped on a
loaded 2-core machine; none are dropped normally.
"""
from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from dojo_core.dataset import validate
from dojo_core.robot import JOINT_NAMES
from dojo_core.robot.description import share_dir
from dojo_ros.joint_state import vector_to_joint_state
from dojo_ros.process import NodeProcess
from dojo_ros.qos import CLOCK_QOS, COMMAND_QOS

pytestmark = pytest.mark.slow  # recorder_node and sim_node as subprocesses, whole episodes

FPS = 30
CAMERAS = {'front': (64, 48), 'wrist': (48, 32)}
SIM_PARAMS = {'real_time_factor': 1.0, **{f'{cam}_camera.{key}': value for cam, (w, h) in CAMERAS.items()
                                         for key, value in (('width', w), ('height', h), ('rate_hz', 30.0))}}
RECORDER_YAML = Path(__file__).resolve().parents[2] / 'config' / 'recorder.yaml'
HOME = np.array([0.0, -0.6, 0.6, 1.1, 0.0, 0.3])
REPLY = re.compile(r'episode (\d+) saved: (\d+) frames, [\d.]+ s at ([\d.]+) Hz real \(30 fps\), (\d+) dropped')


def write_feature_map(path: Path) -> Path:
    joints = {'type': 'sensor_msgs/msg/JointState', 'joints': list(JOINT_NAMES)}
    features = {
        'observation.state': {'topic': 'joint_states', **joints, 'max_age': 0.1},
        'action': {'topic': 'joint_commands', **joints, 'max_age': math.inf},
    }
    for cam, (w, h) in CAMERAS.items():
        features[f'observation.images.{cam}'] = {'topic': f'cameras/{cam}/image_raw', 'type': 'sensor_msgs/msg/Image',
                                                 'width': w, 'height': h, 'encoding': 'rgb8', 'max_age': 0.1}
    path.write_text(yaml.safe_dump({'fps': FPS, 'task_topic': 'task', 'robot_type': 'so101_follower',
                                    'features': features}))
    return path


class Operator(Node):
    """Teleop and operator: sim-time-stamped joint commands, recorder services, lifecycle, diagnostics."""

    def __init__(self) -> None:
        super().__init__('recorder_operator')
        self.clock_ns = 0
        self.published: list[np.ndarray] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.create_subscription(Clock, '/clock', self._on_clock, CLOCK_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)
        self.commands = self.create_publisher(JointState, 'joint_commands', COMMAND_QOS)
        self.episode_services = {name: self.create_client(Trigger, f'recorder_node/{name}')
                         for name in ('start_episode', 'stop_episode', 'discard_episode')}
        self.change_state = self.create_client(ChangeState, 'recorder_node/change_state')
        self.get_state = self.create_client(GetState, 'recorder_node/get_state')

    def _on_clock(self, msg: Clock) -> None:
        self.clock_ns = msg.clock.sec * 1_000_000_000 + msg.clock.nanosec

    def spin_until(self, predicate, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.05)
            if predicate():
                return True
        return False

    def call(self, client, request, timeout_s: float = 60.0):
        assert client.wait_for_service(timeout_sec=30), f'{client.srv_name} not available'
        future = client.call_async(request)
        assert self.spin_until(future.done, timeout_s), f'{client.srv_name} did not answer'
        return future.result()

    def trigger(self, name: str) -> Trigger.Response:
        return self.call(self.episode_services[name], Trigger.Request())

    def transition(self, transition_id: int) -> bool:
        return self.call(self.change_state, ChangeState.Request(transition=Transition(id=transition_id))).success

    def state(self) -> str:
        return self.call(self.get_state, GetState.Request()).current_state.label

    def command(self, values: np.ndarray) -> None:
        stamp = rclpy.time.Time(nanoseconds=self.clock_ns).to_msg()
        self.commands.publish(vector_to_joint_state(JOINT_NAMES, values, stamp=stamp))
        self.published.append(np.asarray(values, dtype=np.float32))

    def teleop(self, seconds: float) -> None:
        """A command at every new sim time seen (stamps must increase): a slow wave around home."""
        deadline = time.monotonic() + seconds
        last = self.clock_ns
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.01)
            if self.clock_ns > last:
                last = self.clock_ns
                self.command(HOME + 0.2 * np.sin(0.05 * len(self.published) + np.arange(len(JOINT_NAMES))))

    def recording_status(self) -> dict[str, str]:
        found = [s for arr in self.diagnostics for s in arr.status if s.name == 'recorder_node: recording']
        return {kv.key: kv.value for kv in found[-1].values} if found else {}


@pytest.fixture(scope='module')
def sim(tmp_path_factory):
    log = tmp_path_factory.mktemp('sim') / 'sim_node.log'
    node = NodeProcess('dojo_sim.sim_node', params_file=share_dir('dojo_bringup') / 'config' / 'sim.yaml',
                       parameters=SIM_PARAMS, log_path=log).start()
    yield node
    assert node.stop() == 0, log.read_text()


@pytest.fixture(scope='module')
def operator(sim):
    rclpy.init()
    node = Operator()
    assert node.spin_until(lambda: node.clock_ns > 0, 60), 'no /clock from sim_node'
    yield node
    node.destroy_node()
    rclpy.shutdown()


def recorder(tmp_path: Path, root: Path, log_name: str = 'recorder.log') -> NodeProcess:
    return NodeProcess('dojo_recorder.recorder_node', params_file=RECORDER_YAML, log_path=tmp_path / log_name,
                       parameters={'use_sim_time': True, 'root': str(root), 'repo_id': 'test/recorder',
                                   'features': str(write_feature_map(tmp_path / 'features.yaml')),
                                   'video_codec': 'libx264'})


def read_episodes(root: Path) -> list[dict]:
    return [row for p in sorted((root / 'meta/episodes').glob('*/*.parquet')) for row in pq.read_table(p).to_pylist()]


def read_actions(root: Path) -> np.ndarray:
    tables = [pq.read_table(p) for p in sorted((root / 'data').glob('*/*.parquet'))]
    return np.concatenate([np.stack(t.column('action').to_pylist()) for t in tables]).astype(np.float32)


def wait_ready(operator: Operator, log: Path, episodes_saved: int = 0) -> None:
    """Until a (new) recorder is active, has the sim's latched task and has resumed ``episodes_saved``."""
    operator.diagnostics.clear()

    def ready() -> bool:
        status = operator.recording_status()
        return (status.get('active') == 'True' and 'cube' in status.get('task', '')
                and status.get('episodes_saved') == str(episodes_saved))
    assert operator.spin_until(ready, 60), log.read_text() if log.exists() else 'no recorder log'


def record(operator: Operator, seconds: float) -> tuple[Trigger.Response, float]:
    """One episode through the services; returns the stop reply and the sim time it spanned."""
    start = operator.trigger('start_episode')
    assert start.success, start.message
    t_start = operator.clock_ns
    operator.teleop(seconds)
    t_stop = operator.clock_ns
    return operator.trigger('stop_episode'), (t_stop - t_start) / 1e9


def test_three_episodes_through_the_services(tmp_path, operator):
    root = tmp_path / 'dataset'
    with recorder(tmp_path, root) as node:
        operator.command(HOME)   # the sim (and the recorder, which holds it) start from this command
        wait_ready(operator, tmp_path / 'recorder.log')
        lengths = []
        for episode in range(3):
            reply, span = record(operator, 1.2)
            match = REPLY.search(reply.message)
            assert reply.success and match, reply.message
            index, frames, rate, dropped = int(match[1]), int(match[2]), float(match[3]), int(match[4])
            expected = round(span * FPS)
            assert index == episode
            assert frames + dropped in range(expected - 2, expected + 3), (reply.message, span)
            assert dropped <= 3 + 0.1 * expected, reply.message
            assert rate > 0.8 * FPS
            lengths.append(frames)
        assert operator.trigger('stop_episode').success is False   # nothing to stop
        assert operator.trigger('start_episode').success
        operator.teleop(0.3)
        discarded = operator.trigger('discard_episode')
        assert discarded.success and 'episode 3 discarded' in discarded.message, discarded.message
        operator.diagnostics.clear()
        assert operator.spin_until(lambda: operator.recording_status().get('episodes_saved') == '3', 10)
        assert node.alive()

    assert validate(root) == []
    assert [row['length'] for row in read_episodes(root)] == lengths
    assert all(row['tasks'] == [read_episodes(root)[0]['tasks'][0]] and 'cube' in row['tasks'][0]
               for row in read_episodes(root))
    # every action row is one of the commands published, in publishing order
    published = np.stack(operator.published)
    matches = [np.flatnonzero((published == row).all(axis=1)) for row in read_actions(root)]
    assert all(len(m) for m in matches), 'an action row is not a published command'
    order = [m[-1] for m in matches]
    assert order == sorted(order) and len(set(order)) > 10 * len(lengths)   # the action follows the teleop


def test_deactivate_and_sigint_save_the_episode_and_a_killed_recorder_is_repaired(tmp_path, operator):
    root = tmp_path / 'dataset'
    node = recorder(tmp_path, root).start()
    try:
        wait_ready(operator, tmp_path / 'recorder.log')
        assert operator.trigger('start_episode').success
        operator.teleop(0.5)
        assert operator.transition(Transition.TRANSITION_DEACTIVATE) and operator.state() == 'inactive'
        assert [row['episode_index'] for row in read_episodes(root)] == [0]   # saved by deactivate
        refused = operator.trigger('start_episode')
        assert not refused.success and 'not active' in refused.message

        assert operator.transition(Transition.TRANSITION_ACTIVATE)
        assert operator.trigger('start_episode').success
        operator.teleop(0.5)
    finally:
        code = node.stop()   # SIGINT during the episode
    assert code == 0, (tmp_path / 'recorder.log').read_text()
    assert [row['episode_index'] for row in read_episodes(root)] == [0, 1] and validate(root) == []

    with recorder(tmp_path, root, 'resumed.log') as node:
        wait_ready(operator, tmp_path / 'resumed.log', episodes_saved=2)
        started = operator.trigger('start_episode')
        assert 'episode 2 started' in started.message, started.message
        operator.teleop(0.5)
        node.process.kill()   # SIGKILL mid-episode: nothing of episode 2 is committed
        node.process.wait()
    assert any('interrupted recording' in problem for problem in validate(root))   # the killed episode's leftovers

    with recorder(tmp_path, root, 'repaired.log'):
        wait_ready(operator, tmp_path / 'repaired.log', episodes_saved=2)
        assert 'repair: removed' in (tmp_path / 'repaired.log').read_text()
        reply, _ = record(operator, 0.5)
        assert reply.success and 'episode 2 saved' in reply.message, reply.message
    assert [row['episode_index'] for row in read_episodes(root)] == [0, 1, 2] and validate(root) == []
