"""leader_arm in its own process against an emulated SO-101 leader: positions, mirroring, interventions."""
from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool

from dojo_core.motors.emulator import BusEmulator
from dojo_core.robot.description import JOINT_NAMES
from dojo_ros.process import NodeProcess
from dojo_ros.qos import SENSOR_QOS

IDS = {name: i + 1 for i, name in enumerate(JOINT_NAMES)}
THRESHOLD = 0.15
PAN_LIMIT = 1.91986  # URDF


@pytest.fixture(scope='module')
def leader_calibration(calibration):
    return calibration('so101_leader.json')


@pytest.fixture(scope='module')
def emulator(leader_calibration, tmp_path_factory):
    with BusEmulator('feetech', range(1, 7), link=tmp_path_factory.mktemp('bus') / 'ttyLEADER') as emulator:
        leader_calibration.store_in(emulator)
        for servo in emulator.servos.values():
            servo.set('Torque_Enable', 1)  # left powered by someone else: the node must turn it off
        yield emulator


@pytest.fixture(scope='module')
def leader(emulator, leader_calibration, hardware_config, tmp_path_factory, probe):
    log = tmp_path_factory.mktemp('leader') / 'leader_arm.log'
    node = NodeProcess('dojo_hardware.leader_arm', params_file=hardware_config / 'so101_feetech.yaml', log_path=log,
                       parameters={'port': emulator.port, 'calibration_file': str(leader_calibration.path),
                                   'latency_timer_ms': 50.0, 'diagnostics_period_s': 0.2, 'mirror': True,
                                   'intervention_mode': 'deviation', 'intervention_threshold_rad': THRESHOLD,
                                   'intervention_hold_s': 0.2}).start()
    for topic, kind in (('leader/joint_states', JointState), ('joint_commands', JointState), ('intervention', Bool)):
        probe.listen(topic, kind, SENSOR_QOS)
    probe.follower = probe.create_publisher(JointState, 'joint_states', 10)
    assert probe.spin_until(lambda: 'leader/joint_states' in probe.latest, 30), log.read_text()
    yield probe
    code = node.stop()
    assert code == 0, f'leader_arm exited with {code}; log:\n{log.read_text()}'


def test_torque_is_off_and_positions_are_published_in_radians(leader, emulator, leader_calibration):
    assert [emulator.servo(i).get('Torque_Enable') for i in range(1, 7)] == [0] * 6
    elbow = emulator.servo(IDS['elbow_flex'])
    elbow.hand_move(round(leader_calibration.mid('elbow_flex')) - 400)  # the operator moves the leader
    leader.fresh('leader/joint_states')
    assert leader.positions('leader/joint_states', ['elbow_flex'])[0] == pytest.approx(
        leader_calibration.radians('elbow_flex', elbow.get('Present_Position')), abs=1e-9)
    assert leader.positions('leader/joint_states', ['elbow_flex'])[0] == pytest.approx(
        -400 / leader_calibration.ticks_per_rad, abs=1e-3)


def test_mirror_publishes_the_leader_pose_as_commands_clamped_to_the_limits(leader, emulator, leader_calibration):
    pan = emulator.servo(IDS['shoulder_pan'])
    pan.hand_move(leader_calibration.motors['shoulder_pan']['range_max'])  # beyond the URDF limit
    leader.fresh('joint_commands')
    leader_pan = leader.positions('leader/joint_states', ['shoulder_pan'])[0]
    assert leader_pan > PAN_LIMIT + 0.02
    assert leader.positions('joint_commands', ['shoulder_pan'])[0] == pytest.approx(PAN_LIMIT)
    others = [j for j in JOINT_NAMES if j != 'shoulder_pan']
    np.testing.assert_allclose(leader.positions('joint_commands', others),
                               leader.positions('leader/joint_states', others), atol=1e-3)
    status = leader.wait_for_status('leader_arm: teleop', lambda s: 'clamped.shoulder_pan' in leader.values(s))
    assert int(leader.values(status)['clamped.shoulder_pan']) >= 1
    pan.hand_move(round(leader_calibration.mid('shoulder_pan')))


def test_intervention_turns_on_when_the_leader_leaves_the_follower(leader):
    def follow(offset: float) -> None:
        pose = leader.positions('leader/joint_states', JOINT_NAMES)
        pose[2] += offset
        leader.follower.publish(JointState(name=list(JOINT_NAMES), position=pose.tolist()))

    def intervention_is(value: bool) -> bool:
        follow(offset)
        return leader.latest.get('intervention') is not None and leader.fresh('intervention', count=1).data is value

    offset = 0.0
    assert leader.spin_until(lambda: intervention_is(False), 10)
    offset = 2 * THRESHOLD
    assert leader.spin_until(lambda: intervention_is(True), 10)
    status = leader.wait_for_status('leader_arm: teleop', lambda s: leader.values(s)['intervention'] == 'True')
    assert float(leader.values(status)['deviation_rad']) == pytest.approx(2 * THRESHOLD, abs=0.01)
    offset = 0.0
    assert leader.spin_until(lambda: intervention_is(False), 10)
    assert status.level == DiagnosticStatus.OK


def test_an_unplugged_leader_is_an_error_until_it_is_back_limp(leader, emulator):
    emulator.unplug()
    try:
        status = leader.wait_for_status('leader_arm: bus', lambda s: s.level == DiagnosticStatus.ERROR)
        assert 'fault' in status.message
        emulator.servo(IDS['gripper']).set('Torque_Enable', 1)  # someone powered it meanwhile
    finally:
        emulator.replug()
    leader.wait_for_status('leader_arm: bus', lambda s: s.level != DiagnosticStatus.ERROR)
    leader.fresh('leader/joint_states')
    assert [emulator.servo(i).get('Torque_Enable') for i in range(1, 7)] == [0] * 6
