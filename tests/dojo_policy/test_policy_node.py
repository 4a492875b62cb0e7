"""policy_node and sim_node in their own processes, closing the loop over real topics.

One policy_node serves every test: each test sets the parameters it needs over the parameter
service and walks the node through cleanup -> configure -> activate, which also exercises the
lifecycle. Every joint_commands message the probe receives is checked against the joint limits.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool
from trajectory_msgs.msg import JointTrajectory

from dojo_core.robot import ARM_JOINTS, JOINT_NAMES, expand_xacro, joint_limits
from dojo_ros.joint_state import joint_state_to_vector
from dojo_ros.lifecycle import LifecycleClient
from dojo_ros.process import NodeProcess
from dojo_ros.qos import COMMAND_QOS, SENSOR_QOS

pytestmark = pytest.mark.slow  # policy_node and sim_node as subprocesses, closed loop in real time

LIMITS = joint_limits(expand_xacro())
TOLERANCE = 1e-9


class Probe(Node):
    """Receives commands and joint states, relays the front camera on demand, drives policy_node."""

    def __init__(self) -> None:
        super().__init__('policy_probe')
        self.commands: list[np.ndarray] = []
        self.controller_commands: dict[str, list] = {'arm': [], 'gripper': [], 'trajectory': []}
        self.joint_states: JointState | None = None
        self.status: dict[str, tuple[str, dict[str, str]]] = {}
        self.relay_on = True
        self.create_subscription(JointState, 'joint_commands', self._on_command, COMMAND_QOS)
        self.create_subscription(JointState, 'joint_states', self._on_joint_states, SENSOR_QOS)
        self.create_subscription(Float64MultiArray, 'forward_position_controller/commands',
                                 self.controller_commands['arm'].append, COMMAND_QOS)
        self.create_subscription(Float64MultiArray, 'gripper_controller/commands',
                                 self.controller_commands['gripper'].append, COMMAND_QOS)
        self.create_subscription(JointTrajectory, 'joint_trajectory_controller/joint_trajectory',
                                 self.controller_commands['trajectory'].append, COMMAND_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)
        relay = self.create_publisher(Image, 'relay/front/image_raw', SENSOR_QOS)
        self.create_subscription(Image, 'cameras/front/image_raw',
                                 lambda msg: relay.publish(msg) if self.relay_on else None, SENSOR_QOS)
        self.lifecycle = LifecycleClient(self, 'policy_node')
        self.parameters = AsyncParameterClient(self, 'policy_node')
        self.enable_client = self.create_client(SetBool, 'policy_node/enable')

    def _on_command(self, msg: JointState) -> None:
        position = joint_state_to_vector(msg, JOINT_NAMES)
        # the safety guarantee, on every message any test ever receives
        assert list(msg.name) == list(JOINT_NAMES) and np.all(np.isfinite(position)), msg
        assert np.all(position >= LIMITS.lower - TOLERANCE) and np.all(position <= LIMITS.upper + TOLERANCE), position
        self.commands.append(position)

    def _on_joint_states(self, msg: JointState) -> None:
        self.joint_states = msg

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.status[status.name] = (status.message, {kv.key: kv.value for kv in status.values})

    # -- helpers ----------------------------------------------------------------------------------
    def spin_until(self, predicate, timeout_s: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.02)
            if predicate():
                return True
        return False

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def measured(self) -> np.ndarray:
        return joint_state_to_vector(self.joint_states, JOINT_NAMES)

    def control(self) -> tuple[str, dict[str, str]]:
        return self.status.get('policy_node: control', ('', {}))

    def fresh_control(self, predicate=lambda message, values: True,
                      timeout_s: float = 10.0) -> tuple[str, dict[str, str]]:
        """(message, values) of the first policy_node control diagnostics from now on that satisfy `predicate`."""
        self.status.pop('policy_node: control', None)
        assert self.spin_until(lambda: 'policy_node: control' in self.status and predicate(*self.control()),
                               timeout_s), self.control()
        return self.control()

    def set_parameters(self, **values) -> None:
        future = self.parameters.set_parameters([Parameter(k, value=v) for k, v in values.items()])
        assert self.spin_until(future.done, 10), 'policy_node parameter service did not answer'
        assert all(r.successful for r in future.result().results), future.result()

    def configure(self, **values) -> None:
        """cleanup, set parameters, configure, activate; then wait for the first commands."""
        assert self.lifecycle.go('unconfigured')
        self.set_parameters(**values)
        assert self.lifecycle.go('active'), self.control()

    def enable(self, on: bool) -> None:
        assert self.enable_client.wait_for_service(timeout_sec=10)
        future = self.enable_client.call_async(SetBool.Request(data=on))
        assert self.spin_until(future.done, 10) and future.result().success

    def new_commands(self, count: int, timeout_s: float = 20.0) -> list[np.ndarray]:
        start = len(self.commands)
        assert self.spin_until(lambda: len(self.commands) >= start + count, timeout_s), \
            f'{len(self.commands) - start} of {count} commands; {self.control()}'
        return self.commands[start:]


@pytest.fixture(scope='module')
def processes(policy_files, sim_cameras, tmp_path_factory):
    logs = tmp_path_factory.mktemp('logs')
    sim = NodeProcess('dojo_sim.sim_node', params_file=policy_files['sim_yaml'],
                      parameters={'real_time_factor': 1.0, **sim_cameras}, log_path=logs / 'sim_node.log').start()
    policy = NodeProcess('dojo_policy.policy_node', params_file=policy_files['policy_yaml'], parameters={
        'checkpoint': str(policy_files['random']), 'feature_map': str(policy_files['small_map']), 'use_sim_time': True,
        'inference_threads': 1, 'diagnostics_period_s': 0.5}, log_path=logs / 'policy_node.log').start()
    yield sim, policy
    codes = policy.stop(), sim.stop()
    assert codes == (0, 0), f'exit codes {codes}; logs:\n{(logs / "policy_node.log").read_text()}'


@pytest.fixture(scope='module')
def probe(processes):
    rclpy.init()
    node = Probe()
    assert node.lifecycle.wait_for_services(30) and node.spin_until(lambda: node.joint_states is not None, 30)
    yield node
    node.destroy_node()
    rclpy.shutdown()


def steps(commands: list[np.ndarray]) -> np.ndarray:
    return np.abs(np.diff(np.asarray(commands), axis=0)).max(axis=1)


def close_the_loop(probe: Probe, checkpoint: Path, feature_map: Path) -> list[np.ndarray]:
    """Serve `checkpoint` with its own execution and a 0.25 rad step limit; 45 commands, each step within the
    limit, and the arm in sim_node moves."""
    probe.configure(checkpoint=str(checkpoint), feature_map=str(feature_map), max_step_rad=0.25,
                    execution='checkpoint')
    start = probe.measured()
    commands = probe.new_commands(45)
    assert np.max(steps(commands)) <= 0.25 + TOLERANCE
    assert probe.spin_until(lambda: np.abs(probe.measured() - start).max() > 0.02, 10), 'the arm did not move'
    return commands


def test_closed_loop_commands_flow_and_the_arm_moves(probe, policy_files):
    commands = close_the_loop(probe, policy_files['random'], policy_files['small_map'])
    assert len({tuple(c) for c in commands}) > 10, 'the policy should keep producing new targets'
    message, values = probe.fresh_control(lambda m, v: 'commands' in v)
    assert message == 'active: commanding' and int(values['commands']) > 0
    assert float(values['control_rate_hz']) > 10, values
    inference = probe.status['policy_node: inference'][1]
    assert float(inference['latency_p50_ms']) > 0 and inference['execution'] == 'queue (10 of 10, next chunk at 5 left, replace)'


def test_a_diffusion_checkpoint_is_served_unchanged(probe, policy_files):
    """The second method through the same node: a two-frame history, sampled chunks, the same limiter."""
    close_the_loop(probe, policy_files['diffusion'], policy_files['small_map'])
    _, values = probe.fresh_control(lambda m, v: int(v.get('chunks', 0)) > 5)
    assert int(values['commands']) > 5
    inference = probe.status['policy_node: inference'][1]
    assert inference['execution'] == 'queue (4 of 7, next chunk at 2 left, replace)', inference
    assert float(inference['latency_p50_ms']) > 0


def test_temporal_ensembling_runs_a_chunk_every_step(probe, policy_files):
    probe.configure(checkpoint=str(policy_files['random']), feature_map=str(policy_files['small_map']),
                    execution='temporal_ensemble')
    probe.new_commands(30)
    _, values = probe.fresh_control(lambda m, v: int(v.get('chunks', 0)) > 20)
    assert int(values['commands']) > 20
    assert probe.status['policy_node: inference'][1]['execution'].startswith('temporal_ensemble')


def test_out_of_range_actions_are_clamped_and_step_limited(probe, policy_files):
    probe.configure(checkpoint=str(policy_files['out_of_range']), feature_map=str(policy_files['small_map']),
                    max_step_rad=0.05, execution='checkpoint')
    start = probe.measured()
    commands = probe.new_commands(40)      # every one was checked against the limits on arrival
    assert np.abs(commands[0] - start).max() <= 0.05 + 0.02   # first step from where the arm was (+ its sag)
    assert np.max(steps(commands)) <= 0.05 + TOLERANCE
    _, values = probe.fresh_control(lambda m, v: any(k.startswith('clamped.') for k in v))
    assert int(values['clamped.shoulder_pan']) > 0 and int(values['step_limited.shoulder_pan']) > 0
    # the targets ride the limits: shoulder_pan was asked for 3 rad, its upper limit is 1.92
    assert probe.spin_until(lambda: abs(probe.commands[-1][0] - LIMITS.upper[0]) < TOLERANCE, 20), probe.commands[-1]


def test_nan_policy_output_holds_and_is_counted(probe, policy_files):
    probe.configure(checkpoint=str(policy_files['nan']), feature_map=str(policy_files['small_map']))
    held = probe.new_commands(30)
    assert all(np.array_equal(c, held[0]) for c in held), 'a NaN policy must only hold the start pose'
    _, values = probe.fresh_control(lambda m, v: int(v.get('holds.non_finite_action', 0)) > 0)
    assert values['commands'] == '0' and int(values['non_finite_chunks']) > 0
    assert probe.control()[0].startswith('active: holding')


def test_stale_camera_holds_then_resumes(probe, policy_files):
    probe.relay_on = True
    probe.configure(checkpoint=str(policy_files['random']), feature_map=str(policy_files['relay_map']))
    moving = probe.new_commands(20)
    assert len({tuple(c) for c in moving}) > 5
    probe.relay_on = False
    probe.fresh_control(lambda m, v: int(v.get('holds.stale:observation.images.front', 0)) > 0)
    held = probe.new_commands(20)
    assert all(np.array_equal(c, held[-1]) for c in held[-15:]), 'commands must hold while the camera is stale'
    assert 'holding (stale:observation.images.front)' in probe.control()[0]
    probe.relay_on = True
    resumed = probe.new_commands(20)
    assert len({tuple(c) for c in resumed}) > 5, 'commands should flow again once the camera is back'


def test_enable_and_deactivate_stop_new_targets(probe, policy_files):
    probe.configure(checkpoint=str(policy_files['random']), feature_map=str(policy_files['small_map']))
    probe.new_commands(10)
    probe.enable(False)
    probe.spin_for(0.2)                     # commands already on the wire
    paused = len(probe.commands)
    probe.spin_for(1.0)
    assert len(probe.commands) == paused, 'no new targets while disabled'
    assert probe.fresh_control()[1]['enabled'] == 'False'
    probe.enable(True)
    probe.new_commands(10)
    assert probe.lifecycle.transition(Transition.TRANSITION_DEACTIVATE)
    probe.spin_for(0.2)
    stopped = len(probe.commands)
    probe.spin_for(1.0)
    assert len(probe.commands) == stopped, 'no targets after deactivate'
    assert probe.lifecycle.state() == 'inactive'


def test_controller_command_forms(probe, policy_files):
    probe.configure(checkpoint=str(policy_files['random']), feature_map=str(policy_files['small_map']),
                    command_type='position_controller')
    assert probe.spin_until(lambda: len(probe.controller_commands['arm']) >= 5
                            and len(probe.controller_commands['gripper']) >= 5)
    assert len(probe.controller_commands['arm'][-1].data) == len(ARM_JOINTS)
    assert len(probe.controller_commands['gripper'][-1].data) == 1
    probe.configure(command_type='trajectory_controller')
    assert probe.spin_until(lambda: len(probe.controller_commands['trajectory']) >= 5)
    trajectory = probe.controller_commands['trajectory'][-1]
    assert list(trajectory.joint_names) == list(ARM_JOINTS) and len(trajectory.points) == 1
    point = trajectory.points[0]
    assert len(point.positions) == len(ARM_JOINTS) and point.time_from_start.nanosec == pytest.approx(1e9 / 30, abs=1)
    probe.configure(command_type='joint_state')


def test_mismatched_features_and_bad_transitions_are_refused_cleanly(probe, policy_files, processes):
    assert probe.lifecycle.go('unconfigured')
    assert not probe.lifecycle.transition(Transition.TRANSITION_ACTIVATE)   # not configured: refused, node alive
    probe.set_parameters(feature_map=str(policy_files['wide_map']))
    assert not probe.lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    message, _ = probe.fresh_control(lambda m, v: 'FeatureMapError' in m)
    assert 'observation.images.front' in message and '(3, 48, 64)' in message and '(3, 48, 80)' in message
    probe.set_parameters(checkpoint=str(Path(policy_files['random']) / 'missing'))
    assert not probe.lifecycle.transition(Transition.TRANSITION_CONFIGURE)
    message, _ = probe.fresh_control(lambda m, v: 'FileNotFoundError' in m)
    assert 'missing is not a directory' in message
    assert all(p.alive() for p in processes)
    probe.configure(checkpoint=str(policy_files['random']), feature_map=str(policy_files['small_map']))
    probe.new_commands(5)
