"""ik_node against sim_node, each in its own process, through real topics, parameters and /diagnostics.

The sim runs at 3x real time without rendering (no camera is looked at); ik_node runs on sim time
with the repository's config/ik.yaml, both outputs (joint_commands and a JointTrajectory) and one
static target frame. Reach is measured from the sim's joint_states through the pinocchio model of
the same URDF.
"""
from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path

import numpy as np
import pinocchio as pin
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory

from dojo_core.kinematics.model import RobotModel
from dojo_core.robot import JOINT_NAMES
from dojo_core.robot.description import ARM_JOINTS, share_dir
from dojo_ros.joint_state import joint_state_to_vector
from dojo_ros.process import NodeProcess
from dojo_ros.qos import COMMAND_QOS, SENSOR_QOS

pytestmark = pytest.mark.slow  # ik_node and sim_node as subprocesses, motions in real time

CONFIG = Path(__file__).resolve().parents[2] / 'config'
SIM_PARAMS = {'real_time_factor': 3.0, 'front_camera.rate_hz': 0.0, 'wrist_camera.rate_hz': 0.0}
# A table frame 5 cm in front of the base, turned a quarter turn about z.
TABLE = (0.05, 0.0, 0.0, 0.0, 0.0, math.pi / 2)
IK_PARAMS = {'use_sim_time': True, 'output': 'both',
             'target_frames': [f'table {" ".join(str(v) for v in TABLE)}']}
GRIPPER = JOINT_NAMES.index('gripper')
REACH = 0.005          # m: the bar
GRIPPER_OPEN = 1.2     # rad, config/ik.yaml


class Client(Node):
    """Sends targets and gripper commands; records joint_states, joint_commands, trajectories, diagnostics."""

    def __init__(self) -> None:
        super().__init__('ik_client')
        self.model = RobotModel()
        self.joint_states: JointState | None = None
        self.commands: list[np.ndarray] = []
        self.trajectories: list[JointTrajectory] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.create_subscription(JointState, 'joint_states', self._on_joint_states, SENSOR_QOS)
        # reliable, as ik_node publishes them: a command lost on the way would read as a double step
        self.create_subscription(JointState, 'joint_commands',
                                 lambda m: self.commands.append(joint_state_to_vector(m, JOINT_NAMES)), COMMAND_QOS)
        self.create_subscription(JointTrajectory, 'joint_trajectory_controller/joint_trajectory',
                                 self.trajectories.append, COMMAND_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)
        self.targets = self.create_publisher(PoseStamped, 'ik/target_pose', COMMAND_QOS)
        self.gripper = self.create_publisher(Float64, 'ik/gripper', COMMAND_QOS)
        self.set_parameters_client = self.create_client(SetParameters, 'ik_node/set_parameters')

    def _on_joint_states(self, msg: JointState) -> None:
        self.joint_states = msg

    def spin_until(self, predicate, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.02)
            if predicate():
                return True
        return False

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def q(self) -> np.ndarray:
        return joint_state_to_vector(self.joint_states, JOINT_NAMES)

    def tool(self) -> tuple[np.ndarray, np.ndarray]:
        return self.model.fk(self.q())

    def settled(self) -> bool:
        return float(np.abs(joint_state_to_vector(self.joint_states, JOINT_NAMES, 'velocity')).max()) < 0.01

    def send(self, position, rotation=None, frame: str = 'base_link') -> None:
        msg = PoseStamped()
        msg.header.frame_id = frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in position)
        if rotation is not None:
            x, y, z, w = pin.Quaternion(np.asarray(rotation)).coeffs()
            msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = \
                float(x), float(y), float(z), float(w)
        self.targets.publish(msg)

    def set_parameter(self, name: str, value) -> bool:
        assert self.set_parameters_client.wait_for_service(timeout_sec=10)
        if isinstance(value, bool):
            v = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
        else:
            v = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
        future = self.set_parameters_client.call_async(
            SetParameters.Request(parameters=[ParameterMsg(name=name, value=v)]))
        assert self.spin_until(future.done, 10)
        return future.result().results[0].successful

    def status(self, task: str) -> dict[str, str]:
        found = [s for arr in self.diagnostics for s in arr.status if s.name == f'ik_node: {task}']
        return {kv.key: kv.value for kv in found[-1].values} if found else {}

    def reach(self, target: np.ndarray, timeout_s: float = 30.0) -> float:
        """Wait for the tool to come within REACH of `target` and the arm to stop; the final error (m)."""
        self.spin_until(lambda: np.linalg.norm(self.tool()[0] - target) < REACH and self.settled(), timeout_s)
        return float(np.linalg.norm(self.tool()[0] - target))


@pytest.fixture(scope='module')
def nodes(tmp_path_factory):
    logs = tmp_path_factory.mktemp('ik')
    sim = NodeProcess('dojo_sim.sim_node', params_file=share_dir('dojo_bringup') / 'config' / 'sim.yaml',
                      parameters=SIM_PARAMS, log_path=logs / 'sim_node.log').start()
    ik = NodeProcess('dojo_ik.ik_node', params_file=CONFIG / 'ik.yaml', parameters=IK_PARAMS,
                     log_path=logs / 'ik_node.log').start()
    yield sim, ik, logs
    codes = ik.stop(), sim.stop()
    assert codes == (0, 0), f'exit codes {codes}; ik_node log:\n{(logs / "ik_node.log").read_text()}'


@pytest.fixture(scope='module')
def client(nodes):
    rclpy.init()
    node = Client()
    assert node.spin_until(lambda: node.joint_states is not None and node.status('joint_commands'), 60), \
        'no joint_states from sim_node or no /diagnostics from ik_node'
    yield node
    node.destroy_node()
    rclpy.shutdown()


def reachable_pose(model: RobotModel, q) -> tuple[np.ndarray, np.ndarray]:
    return model.fk(np.asarray(q, dtype=float))


def angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(pin.log3(a @ b.T)))


def test_joint_motion_reaches_the_pose_smoothly_and_holds(client):
    position, rotation = reachable_pose(client.model, [0.4, 0.3, 0.2, 0.9, 0.5, 0.3])
    client.commands.clear()
    client.send(position, rotation)
    error = client.reach(position)
    assert error < REACH, f'tool {error * 1e3:.1f} mm from the target'
    # Orientation is a soft goal, but this pose is reachable: the tool turns to it too.
    assert math.degrees(angle(client.tool()[1], rotation)) < 3.0
    client.diagnostics.clear()
    assert client.spin_until(lambda: client.status('ik').get('state') == 'holding', 10)
    # Every command within the joint limits, no joint stepping more than max_step_rad (0.15 rad).
    commands = np.array(client.commands)
    limits = client.model.limits
    assert len(commands) > 10
    assert np.all(commands >= limits.lower - 1e-9) and np.all(commands <= limits.upper + 1e-9)
    assert np.abs(np.diff(commands, axis=0)).max() <= 0.15 + 1e-9
    # The same motion went out as one trajectory for the arm controller, ending where the stream ends.
    assert client.trajectories
    trajectory = client.trajectories[-1]
    assert list(trajectory.joint_names) == list(ARM_JOINTS)
    np.testing.assert_allclose(trajectory.points[-1].positions, commands[-1][:5], atol=1e-6)
    np.testing.assert_allclose(trajectory.points[-1].velocities, 0.0, atol=1e-3)
    # Holding: the last command keeps coming, unchanged, and the arm stays.
    count = len(client.commands)
    client.spin_for(1.0)
    assert len(client.commands) > count
    for later in client.commands[count:]:
        np.testing.assert_array_equal(later, commands[-1])


def test_line_motion_keeps_the_tool_on_the_line_and_turns_it(client):
    assert client.set_parameter('motion', 'line')
    assert not client.set_parameter('motion', 'teleport')   # refused by the config, motion stays line
    try:
        start, _ = client.tool()
        position, rotation = reachable_pose(client.model, [-0.3, 0.1, 0.5, 0.8, -0.4, 0.3])
        client.commands.clear()
        client.send(position, rotation)
        error = client.reach(position)
        assert error < REACH, f'tool {error * 1e3:.1f} mm from the target'
        assert math.degrees(angle(client.tool()[1], rotation)) < 3.0
        direction = (position - start) / np.linalg.norm(position - start)
        off_line = [np.linalg.norm(np.cross(client.model.fk(q)[0] - start, direction)) for q in client.commands]
        assert max(off_line) < 0.003, f'commanded tool path strays {max(off_line) * 1e3:.1f} mm from the line'
    finally:
        assert client.set_parameter('motion', 'joint')


def test_target_in_a_configured_static_frame(client):
    """A pose in `table` (5 cm ahead of the base, a quarter turn about z) lands where the transform says."""
    in_table = np.array([-0.05, -0.17, 0.08])            # table x = base y, table y = -base x
    expected = np.array([0.05 + 0.17, -0.05, 0.08])
    client.send(in_table, frame='table')
    error = client.reach(expected)
    assert error < REACH, f'tool {error * 1e3:.1f} mm from {expected}'


def test_position_only_ignores_an_unreachable_orientation(client):
    """The five-joint arm cannot roll the tool about base z here; position-only still reaches the point,
    and with orientation on the soft goal costs position accuracy only within the tolerance."""
    target = np.array([0.2, 0.05, 0.06])
    impossible = pin.rpy.rpyToMatrix(0.0, 0.0, math.pi / 2)   # tool x along base y: out of the arm plane
    for position_only in (True, False):
        assert client.set_parameter('position_only', position_only)
        client.send(target + (0.0, 0.02 * position_only, 0.0), impossible)
        error = client.reach(target + (0.0, 0.02 * position_only, 0.0))
        assert error < REACH, (position_only, error)
    assert client.set_parameter('position_only', False)


def test_gripper_opens_and_closes(client):
    client.gripper.publish(Float64(data=0.0))
    assert client.spin_until(lambda: abs(client.q()[GRIPPER] - GRIPPER_OPEN) < 0.03, 20), client.q()
    client.gripper.publish(Float64(data=0.5))
    assert client.spin_until(lambda: abs(client.q()[GRIPPER] - GRIPPER_OPEN / 2) < 0.03, 20), client.q()
    client.gripper.publish(Float64(data=1.0))
    assert client.spin_until(lambda: abs(client.q()[GRIPPER]) < 0.03, 20), client.q()


def test_bad_inputs_are_refused_counted_and_move_nothing(client, nodes):
    client.spin_until(client.settled, 10)
    client.spin_for(0.5)
    held, command = client.q(), client.commands[-1]
    count = len(client.commands)
    before = {k: int(v) for k, v in client.status('ik').items() if k.startswith('refused.')}
    client.send([math.nan, 0.1, 0.1])                                   # NaN
    client.send([0.6, 0.0, 0.1])                                        # out of reach (arm ~0.3 m)
    client.send([0.2, 0.0, 0.1], frame='map')                           # unknown frame
    zero_quaternion = PoseStamped()
    zero_quaternion.pose.position.x, zero_quaternion.pose.orientation.w = 0.2, 0.0
    client.targets.publish(zero_quaternion)                             # zero quaternion
    client.gripper.publish(Float64(data=1.5))                           # outside [0, 1]
    client.gripper.publish(Float64(data=math.nan))
    expected = {'refused.non_finite': 1, 'refused.unreachable': 1, 'refused.unknown_frame': 1,
                'refused.bad_quaternion': 1, 'refused.bad_gripper': 2}

    def counted() -> bool:
        now = client.status('ik')
        return all(int(now.get(k, 0)) - before.get(k, 0) >= n for k, n in expected.items())

    assert client.spin_until(counted, 20), client.status('ik')
    client.spin_for(1.0)
    # The node kept publishing the held command, unchanged, and the arm stayed there.
    assert len(client.commands) > count
    for later in client.commands[count:]:
        np.testing.assert_array_equal(later, command)
    np.testing.assert_allclose(client.q(), held, atol=0.01)
    assert client.status('ik')['state'] == 'holding'
    sim, ik, _ = nodes
    assert ik.alive() and sim.alive()


def test_moveit_backend_without_moveit_py_is_a_clear_startup_error(tmp_path):
    """dojo's PyPI-only installs have no moveit_py (apt only): choosing the backend says so and exits 1."""
    assert importlib.util.find_spec('moveit') is None, 'this test covers installs without moveit_py'
    process = NodeProcess('dojo_ik.ik_node', parameters={'ik_backend': 'moveit'}, ros_args=['-r', '__ns:=/moveit'],
                          log_path=tmp_path / 'ik_node.log').start()
    deadline = time.monotonic() + 30
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.stop() == 1
    log = (tmp_path / 'ik_node.log').read_text()
    assert "ik_backend 'moveit' needs moveit_py" in log and 'ik_backend:=pinocchio' in log
    assert 'Traceback' not in log
