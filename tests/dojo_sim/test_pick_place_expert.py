"""pick_place_expert against sim_node, each in its own process: seeded episodes over real topics and services.

The sim runs at real time without rendering, as the expert runs when it records demonstrations.
Faster, on a loaded 2-core machine, the node's 30 Hz command stream falls behind the sim and
catches up in bursts; episode 2 here (cube seed 3, expert stream 2) then sometimes drops the cube
just outside the bin (seen twice in fresh-clone runs at 2x and 3x; a known limitation of the node,
not what this test is about). The test process plays the recorder's service side
(`recorder_node/start_episode`, `stop_episode`, `discard_episode`, std_srvs/Trigger) to check when
the expert calls them; the recorder itself is tested in tests/dojo_recorder.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from dojo_core.robot import JOINT_NAMES
from dojo_core.robot.description import share_dir
from dojo_core.sim import SimConfig
from dojo_ros.joint_state import joint_state_to_vector
from dojo_ros.process import NodeProcess
from dojo_ros.qos import LATCHED_QOS, SENSOR_QOS

pytestmark = pytest.mark.slow  # the expert node driving sim_node and a recorder, real time

CONFIG = Path(__file__).resolve().parents[2] / 'config'
SIM_PARAMS = {'real_time_factor': 1.0, 'front_camera.rate_hz': 0.0, 'wrist_camera.rate_hz': 0.0}
HOME = np.array(SimConfig().home_positions)


class RecorderSide(Node):
    """The recorder's episode services (answering success) plus the expert's results and the arm state."""

    def __init__(self) -> None:
        super().__init__('recorder_node')
        self.calls: list[tuple[str, int]] = []       # service, joint_states received before the call
        self.results: list[dict] = []
        self.positions: list[np.ndarray] = []
        for name in ('start', 'stop', 'discard'):
            self.create_service(Trigger, f'~/{name}_episode', lambda req, res, n=name: self._on_call(n, res))
        self.create_subscription(String, 'expert/episode_result',
                                 lambda m: self.results.append(json.loads(m.data)), LATCHED_QOS)
        self.create_subscription(JointState, 'joint_states', self._on_joint_states, SENSOR_QOS)

    def _on_joint_states(self, msg: JointState) -> None:
        self.positions.append(joint_state_to_vector(msg, JOINT_NAMES))

    def _on_call(self, name: str, response: Trigger.Response) -> Trigger.Response:
        self.calls.append((name, len(self.positions)))
        response.success, response.message = True, f'{name} ok'
        return response

    def run(self, process: NodeProcess, timeout_s: float) -> int | None:
        """Serve until `process` exits; its exit code (None if it is still running after timeout_s)."""
        deadline = time.monotonic() + timeout_s
        while process.alive() and time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.02)
        for _ in range(10):
            rclpy.spin_once(self, timeout_sec=0.02)
        return None if process.alive() else process.stop()


@pytest.fixture(scope='module')
def sim(tmp_path_factory):
    log = tmp_path_factory.mktemp('sim') / 'sim_node.log'
    node = NodeProcess('dojo_sim.sim_node', params_file=share_dir('dojo_bringup') / 'config' / 'sim.yaml',
                       parameters=SIM_PARAMS, log_path=log).start()
    yield node
    assert node.stop() == 0, Path(log).read_text()


@pytest.fixture()
def recorder(sim):
    rclpy.init()
    node = RecorderSide()
    deadline = time.monotonic() + 60
    while not node.positions and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    assert node.positions, 'no joint_states from sim_node'
    yield node
    node.destroy_node()
    rclpy.shutdown()


def expert(tmp_path: Path, **parameters) -> NodeProcess:
    return NodeProcess('dojo_sim.pick_place_expert', params_file=CONFIG / 'expert.yaml', parameters=parameters,
                       log_path=tmp_path / 'pick_place_expert.log').start()


def test_three_seeded_episodes_place_the_cube_and_are_recorded(recorder, tmp_path):
    process = expert(tmp_path, episodes=3, seed=0, use_recorder=True)
    code = recorder.run(process, timeout_s=120)
    log = (tmp_path / 'pick_place_expert.log').read_text()
    assert code == 0, log
    assert [r['success'] for r in recorder.results] == [True, True, True], recorder.results
    final = recorder.results[-1]
    assert (final['episodes'], final['successes'], final['success_rate']) == (3, 3, 1.0)
    for r in recorder.results:
        assert r['recording'] == 'saved' and r['reason'] == 'cube placed'
        # At most one command per control period of sim time (a loaded machine may skip some ticks).
        assert 0 < r['steps'] <= r['duration_s'] * 30 + 1
    assert [name for name, _ in recorder.calls] == ['start', 'stop'] * 3
    # Recording starts after the reset, with the arm at home: the joint_states this process hears
    # around the call (its own queue may still hold a few older ones) show the arm resting there.
    for _, heard in recorder.calls[::2]:
        around = np.array(recorder.positions[max(heard - 2, 0):heard + 10])
        assert np.any(np.abs(around - HOME).max(axis=1) < 0.02), around
    assert '3/3 episodes placed the cube (100%)' in log


def test_a_planning_failure_is_a_failed_episode_and_its_recording_is_discarded(recorder, tmp_path):
    process = expert(tmp_path, episodes=1, use_recorder=True, bin_position=[0.7, 0.0])   # bin out of reach
    assert recorder.run(process, timeout_s=60) == 0, (tmp_path / 'pick_place_expert.log').read_text()
    (result,) = recorder.results
    assert not result['success'] and result['reason'].startswith('planning failed: over the bin')
    assert result['recording'] == 'discarded'
    assert [name for name, _ in recorder.calls] == ['start', 'discard']


def test_without_a_recorder_the_episodes_run_unrecorded(sim, tmp_path):
    """use_recorder with no recorder services: a warning, then episodes as usual (here one that fails
    at planning, which needs no motion)."""
    process = expert(tmp_path, episodes=1, use_recorder=True, recorder_wait_s=0.5, bin_position=[0.7, 0.0])
    deadline = time.monotonic() + 60
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = (tmp_path / 'pick_place_expert.log').read_text()
    assert process.stop() == 0, log
    assert 'running without recording' in log
    assert 'episode 0: FAILED' in log and 'planning failed: over the bin' in log and 'recording off' in log


def test_without_a_sim_the_node_says_so_and_exits_1(tmp_path):
    process = NodeProcess('dojo_sim.pick_place_expert', parameters={'stall_timeout_s': 1.0},
                          ros_args=['-r', '__ns:=/no_sim'], log_path=tmp_path / 'log').start()
    deadline = time.monotonic() + 30
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.stop() == 1
    assert 'no sim/reset service' in (tmp_path / 'log').read_text()
