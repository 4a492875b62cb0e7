"""sim_node in its own process, exercised through real ROS topics and services only."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from dojo_core.cell_features import CellFeatures
from dojo_core.policies.features import ENV_STATE_KEY
from dojo_core.robot import JOINT_NAMES
from dojo_core.robot.description import share_dir
from dojo_core.sim import SimCell, SimConfig
from dojo_core.sync import FeatureMap
from dojo_ros.joint_state import joint_state_to_vector
from dojo_ros.process import NodeProcess
from dojo_ros.qos import CLOCK_QOS, COMMAND_QOS, LATCHED_QOS, SENSOR_QOS

pytestmark = pytest.mark.slow  # sim_node as a subprocess, in real time

REPO = Path(__file__).resolve().parents[2]

# Small images and as-fast-as-possible stepping keep the test quick; sizes differ from the defaults
# so the test proves the parameters are honoured.
PARAMS = {
    'real_time_factor': 0.0,
    'front_camera.width': 160, 'front_camera.height': 120, 'front_camera.rate_hz': 10.0,
    'wrist_camera.width': 96, 'wrist_camera.height': 64, 'wrist_camera.rate_hz': 10.0,
}


class Probe(Node):
    """A client node that records the latest message of every sim output."""

    def __init__(self) -> None:
        super().__init__('sim_probe')
        self.latest: dict[str, object] = {}
        self.stamps: dict[str, list[float]] = {}
        self.diagnostics: list[DiagnosticArray] = []
        topics = {
            'joint_states': JointState, 'cameras/front/image_raw': Image, 'cameras/wrist/image_raw': Image,
            'cameras/front/camera_info': CameraInfo, 'cameras/wrist/camera_info': CameraInfo,
            'sim/object_pose': PoseStamped, 'sim/success': Bool,
        }
        for topic, kind in topics.items():
            self.create_subscription(kind, topic, lambda m, t=topic: self._store(t, m), SENSOR_QOS)
        self.create_subscription(Clock, '/clock', lambda m: self._store('/clock', m), CLOCK_QOS)
        self.create_subscription(String, 'task', lambda m: self._store('task', m), LATCHED_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)
        self.commands = self.create_publisher(JointState, 'joint_commands', COMMAND_QOS)
        self.set_pose = self.create_publisher(PoseStamped, 'sim/set_object_pose', COMMAND_QOS)
        self.reset = self.create_client(Trigger, 'sim/reset')

    def _store(self, topic: str, msg) -> None:
        self.latest[topic] = msg
        if hasattr(msg, 'header'):
            self.stamps.setdefault(topic, []).append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)

    def spin_until(self, predicate, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.05)
            if predicate():
                return True
        return False

    def positions(self) -> np.ndarray:
        return joint_state_to_vector(self.latest['joint_states'], JOINT_NAMES)

    def command(self, names, positions) -> None:
        msg = JointState(name=list(names), position=[float(p) for p in positions])
        self.commands.publish(msg)

    def statuses(self, suffix: str):
        return [s for arr in self.diagnostics for s in arr.status if s.name.endswith(suffix)]


@pytest.fixture(scope='module')
def sim(tmp_path_factory, ros_domain):
    log = tmp_path_factory.mktemp('sim') / 'sim_node.log'
    node = NodeProcess('dojo_sim.sim_node', params_file=share_dir('dojo_bringup') / 'config' / 'sim.yaml',
                       parameters=PARAMS, log_path=log).start()
    yield node
    code = node.stop()
    assert code == 0, f'sim_node exited with {code}; log:\n{Path(log).read_text()}'


@pytest.fixture()
def probe(sim):
    rclpy.init()
    node = Probe()
    expected = ('/clock', 'joint_states', 'cameras/front/image_raw', 'cameras/wrist/image_raw',
                'cameras/front/camera_info')
    assert node.spin_until(lambda: all(t in node.latest for t in expected), 60), \
        'no joint_states/images from sim_node'
    yield node
    node.destroy_node()
    rclpy.shutdown()


def test_joint_commands_move_the_arm_to_target(probe):
    target = np.array([0.4, 0.5, -0.3, 0.6, 1.0, 0.9])
    probe.command(JOINT_NAMES, target)
    assert probe.spin_until(lambda: np.abs(probe.positions() - target).max() < 0.02, 30), \
        f'arm at {probe.positions()}, target {target}'
    msg = probe.latest['joint_states']
    assert list(msg.name) == list(JOINT_NAMES) and len(msg.velocity) == len(JOINT_NAMES)


def test_commands_are_matched_by_name_not_index(probe):
    start = probe.positions()
    probe.command(['elbow_flex', 'shoulder_pan'], [0.2, -0.5])  # subset, reordered
    expected = start.copy()
    expected[JOINT_NAMES.index('elbow_flex')], expected[0] = 0.2, -0.5
    assert probe.spin_until(lambda: np.abs(probe.positions() - expected).max() < 0.02, 30), probe.positions()


def test_camera_streams_have_configured_size_encoding_and_frames(probe):
    for name, (w, h) in {'front': (160, 120), 'wrist': (96, 64)}.items():
        image, info = probe.latest[f'cameras/{name}/image_raw'], None
        assert probe.spin_until(lambda n=name: f'cameras/{n}/camera_info' in probe.latest, 10)
        info = probe.latest[f'cameras/{name}/camera_info']
        assert (image.width, image.height, image.encoding, image.step) == (w, h, 'rgb8', 3 * w)
        assert len(image.data) == 3 * w * h
        assert image.header.frame_id == info.header.frame_id == f'{name}_camera_optical_frame'
        assert (info.width, info.height) == (w, h) and info.k[8] == 1.0 and info.k[2] == pytest.approx((w - 1) / 2)


def test_clock_advances_and_stamps_follow_sim_time(probe):
    def seconds(stamp) -> float:
        return stamp.sec + stamp.nanosec * 1e-9

    first = seconds(probe.latest['/clock'].clock)
    assert probe.spin_until(lambda: seconds(probe.latest['/clock'].clock) > first + 0.5, 30)
    js = seconds(probe.latest['joint_states'].header.stamp)
    assert abs(js - seconds(probe.latest['/clock'].clock)) < 0.5
    # in sim time, joint_states come every control period (30 Hz) and images at their configured 10 Hz
    # (messages may be dropped under load, so look at the smallest spacing, never below the period)
    assert probe.spin_until(lambda: len(probe.stamps['cameras/front/image_raw']) >= 5, 30)
    js_spacing = np.diff(probe.stamps['joint_states'])
    image_spacing = np.diff(probe.stamps['cameras/front/image_raw'])
    assert js_spacing.min() == pytest.approx(1 / 30, abs=1e-3)
    assert image_spacing.min() == pytest.approx(0.1, abs=1e-3)


def test_task_is_latched(probe):
    assert probe.spin_until(lambda: 'task' in probe.latest, 10)
    assert 'cube' in probe.latest['task'].data


def _call_reset(probe) -> Trigger.Response:
    assert probe.reset.wait_for_service(timeout_sec=10)
    future = probe.reset.call_async(Trigger.Request())
    assert probe.spin_until(future.done, 20)
    return future.result()


def test_reset_moves_the_cube(probe):
    def cube() -> np.ndarray:
        p = probe.latest['sim/object_pose'].pose.position
        return np.array([p.x, p.y, p.z])

    probe.spin_until(lambda: 'sim/object_pose' in probe.latest, 10)
    before = cube()
    response = _call_reset(probe)
    assert response.success and 'cube at' in response.message
    assert probe.spin_until(lambda: np.linalg.norm(cube() - before) > 1e-3, 10)
    assert probe.latest['sim/object_pose'].header.frame_id == 'base_link'


def test_object_pose_reads_as_the_ros_free_pose_feature(probe):
    """The recorder's reading of sim/object_pose (so101_sim_state.yaml's FeatureSpec) is the 7-vector
    dojo_core.cell_features gives without ROS for the same cube: both paths write the same datasets."""
    state_map = FeatureMap.from_yaml(REPO / 'config' / 'features' / 'so101_sim_state.yaml')
    _call_reset(probe)  # the arm home, clear of the cube
    position, yaw = [0.2, -0.02, SimConfig().cube_size / 2], 0.7
    wxyz = [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]
    pose = PoseStamped()
    pose.header.frame_id = 'base_link'
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = position
    o = pose.pose.orientation
    o.w, o.x, o.y, o.z = wxyz
    probe.set_pose.publish(pose)

    def cube_there() -> bool:
        p = probe.latest['sim/object_pose'].pose.position
        return np.abs(np.array([p.x, p.y, p.z]) - position).max() < 1e-3
    assert probe.spin_until(cube_there, 10)
    probe.spin_until(lambda: False, 0.5)  # settled on the floor
    through_ros = state_map.features[ENV_STATE_KEY].extract(probe.latest['sim/object_pose'])

    features = CellFeatures.from_feature_map(state_map)
    cell = SimCell(features.sim_config())
    cell.set_object_pose(position, wxyz)
    for _ in range(30):
        cell.step(cell.joint_targets())
    np.testing.assert_allclose(through_ros, features.observation(cell)[ENV_STATE_KEY], atol=1e-4)
    cell.close()


def test_time_keeps_running_across_resets_and_cameras_keep_streaming(probe):
    def clock() -> float:
        stamp = probe.latest['/clock'].clock
        return stamp.sec + stamp.nanosec * 1e-9

    probe.spin_until(lambda: '/clock' in probe.latest, 10)
    assert probe.spin_until(lambda: clock() > 1.0, 30)
    before, frames = clock(), len(probe.stamps['cameras/front/image_raw'])
    _call_reset(probe)
    assert probe.spin_until(lambda: len(probe.stamps['cameras/front/image_raw']) >= frames + 3, 20), \
        'cameras stopped after a reset'
    assert clock() > before, 'sim time went back on reset'
    assert np.all(np.diff(probe.stamps['cameras/front/image_raw']) > 0)


def test_cube_placed_in_bin_reports_success(probe):
    _call_reset(probe)
    probe.spin_until(lambda: 'sim/success' in probe.latest, 10)
    assert probe.latest['sim/success'].data is False
    pose = PoseStamped()
    pose.header.frame_id = 'base_link'
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = 0.08, 0.17, 0.04
    pose.pose.orientation.w = 1.0
    probe.set_pose.publish(pose)
    assert probe.spin_until(lambda: probe.latest['sim/success'].data, 20), 'cube in bin but no success'
    _call_reset(probe)
    assert probe.spin_until(lambda: not probe.latest['sim/success'].data, 10)


def test_bad_commands_are_rejected_counted_and_never_crash(probe, sim):
    probe.command(JOINT_NAMES, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    good = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert probe.spin_until(lambda: np.abs(probe.positions() - good).max() < 0.02, 30)
    probe.command(['shoulder_pan', 'bogus_joint'], [1.0, 1.0])                  # unknown joint
    probe.command(JOINT_NAMES, [math.nan, 0.0, 0.0, 0.0, 0.0, 0.0])            # NaN
    probe.command(JOINT_NAMES, [math.inf, 0.0, 0.0, 0.0, 0.0, 0.0])            # inf
    probe.command(JOINT_NAMES, [1.0, 1.0])                                     # wrong length
    probe.commands.publish(JointState(name=list(JOINT_NAMES)))                  # no positions
    bad_pose = PoseStamped()
    bad_pose.pose.position.x = math.nan
    probe.set_pose.publish(bad_pose)
    wrong_frame = PoseStamped()
    wrong_frame.header.frame_id = 'map'
    wrong_frame.pose.orientation.w = 1.0
    probe.set_pose.publish(wrong_frame)
    probe.diagnostics.clear()

    def counted() -> dict[str, str]:
        found = probe.statuses('joint_commands')
        return {kv.key: kv.value for kv in found[-1].values} if found else {}

    assert probe.spin_until(lambda: sum(int(v) for k, v in counted().items() if k.startswith('rejected')) >= 6, 20), \
        counted()
    values = counted()
    assert int(values['rejected.unknown_joint']) >= 1 and int(values['rejected.non_finite']) >= 2
    assert int(values['rejected.length_mismatch']) >= 2 and int(values['rejected.object_pose_frame']) >= 1
    # none of them moved the arm, and the node is still stepping
    probe.spin_until(lambda: False, 1.0)
    np.testing.assert_allclose(probe.positions(), good, atol=0.02)
    assert sim.alive()


def test_stamped_commands_older_than_applied_or_than_a_reset_are_dropped(probe):
    """Commands apply in stamp order; one stamped before the last reset never moves the new episode's arm."""
    def stamped(seconds: float, pan: float) -> JointState:
        msg = JointState(name=['shoulder_pan'], position=[pan])
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(seconds), int(seconds % 1 * 1e9)
        return msg

    def superseded() -> dict[str, int]:
        found = probe.statuses('joint_commands')
        return {kv.key: int(kv.value) for kv in found[-1].values if kv.key.startswith('superseded')} if found else {}

    def clock() -> float:
        stamp = probe.latest['/clock'].clock
        return stamp.sec + stamp.nanosec * 1e-9

    now = clock()
    probe.commands.publish(stamped(now, 0.4))
    assert probe.spin_until(lambda: abs(probe.positions()[0] - 0.4) < 0.02, 30), probe.positions()
    probe.commands.publish(stamped(now - 0.2, -0.4))       # older than the one applied
    before_reset = clock() - 0.01                           # sim time already published: before the reset
    response = _call_reset(probe)
    assert response.success
    home = SimConfig().home_positions[0]                   # where a reset puts shoulder_pan
    probe.commands.publish(stamped(before_reset, 0.8))     # an old episode's last command, arriving late
    probe.diagnostics.clear()
    assert probe.spin_until(lambda: superseded().get('superseded.before_reset', 0) >= 1
                            and superseded().get('superseded.out_of_order', 0) >= 1, 20), superseded()
    probe.spin_until(lambda: False, 0.5)
    assert abs(probe.positions()[0] - home) < 0.05, 'a pre-reset command moved the arm'
    probe.command(['shoulder_pan'], [0.0])                 # unstamped commands always apply
    assert probe.spin_until(lambda: abs(probe.positions()[0]) < 0.02, 30), probe.positions()


def test_a_command_stamped_in_the_future_is_rejected_and_freezes_nothing(probe):
    """One command stamped an hour ahead of sim time is rejected and counted; the commands after it
    still move the arm (before: every later command was 'superseded' until sim time caught up)."""
    def stamped(seconds: float, pan: float) -> JointState:
        msg = JointState(name=['shoulder_pan'], position=[pan])
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(seconds), int(seconds % 1 * 1e9)
        return msg

    def counted() -> dict[str, int]:
        found = probe.statuses('joint_commands')
        return {kv.key: int(kv.value) for kv in found[-1].values} if found else {}

    def clock() -> float:
        stamp = probe.latest['/clock'].clock
        return stamp.sec + stamp.nanosec * 1e-9

    probe.commands.publish(stamped(clock() + 3600.0, 0.5))
    probe.diagnostics.clear()
    assert probe.spin_until(lambda: counted().get('rejected.future', 0) >= 1, 20), counted()
    assert abs(probe.positions()[0] - 0.5) > 0.1, 'the future command moved the arm'
    probe.commands.publish(stamped(clock(), -0.3))
    assert probe.spin_until(lambda: abs(probe.positions()[0] + 0.3) < 0.02, 30), probe.positions()
    assert _call_reset(probe).success
    probe.commands.publish(stamped(clock() + 0.05, 0.2))   # after the reset: applies
    assert probe.spin_until(lambda: abs(probe.positions()[0] - 0.2) < 0.02, 30), probe.positions()


def test_targets_beyond_limits_are_clamped(probe):
    probe.command(['shoulder_pan'], [10.0])
    assert probe.spin_until(lambda: abs(probe.positions()[0] - 1.91986) < 0.03, 30), probe.positions()
    found = probe.statuses('joint_commands')
    assert probe.spin_until(lambda: any(kv.key == 'clamped.shoulder_pan' for s in probe.statuses('joint_commands')
                                        for kv in s.values), 10), found
    probe.command(['shoulder_pan'], [0.0])


def test_namespace_applies_to_topics_and_parameter_file(tmp_path):
    """Under a namespace, relative topics move with it and the installed YAML (`/**/sim_node`) still applies."""
    import yaml

    config = yaml.safe_load((share_dir('dojo_bringup') / 'config' / 'sim.yaml').read_text())
    params = config['/**/sim_node']['ros__parameters']
    params['wrist_camera'].update(width=80, height=48)
    params['front_camera'].update(width=64, height=48)
    params['real_time_factor'] = 0.0
    path = tmp_path / 'sim.yaml'
    path.write_text(yaml.safe_dump(config))
    with NodeProcess('dojo_sim.sim_node', params_file=path, ros_args=['-r', '__ns:=/arm1'],
                     log_path=tmp_path / 'log') as sim:
        rclpy.init()
        try:
            node = Node('ns_probe')
            got = {}
            node.create_subscription(Image, '/arm1/cameras/wrist/image_raw', lambda m: got.setdefault('img', m),
                                     SENSOR_QOS)
            node.create_subscription(JointState, '/arm1/joint_states', lambda m: got.setdefault('js', m), SENSOR_QOS)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(got) < 2:
                rclpy.spin_once(node, timeout_sec=0.1)
            assert set(got) == {'img', 'js'}, (tmp_path / 'log').read_text() if (tmp_path / 'log').exists() else ''
            assert (got['img'].width, got['img'].height) == (80, 48)
            node.destroy_node()
        finally:
            rclpy.shutdown()
        assert sim.alive()
