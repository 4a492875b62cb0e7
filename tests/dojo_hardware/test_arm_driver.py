"""arm_driver in its own process against an emulated SO-101 bus, driven through its lifecycle services.

One driver process serves the module; every test first takes it to the lifecycle state it needs
(`probe.go`), through the real `arm_driver/change_state` service. The emulated servos live in this
process, so the tests read their registers (Goal_Position in ticks, Torque_Enable) and inject
faults (dropped and corrupt replies, an unplugged port).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import JointState

from dojo_core.motors.emulator import BusEmulator
from dojo_core.robot.description import JOINT_NAMES
from dojo_ros.process import NodeProcess
from dojo_ros.qos import COMMAND_QOS, SENSOR_QOS

NODE = 'arm_driver'
MAX_STEP = 0.05  # rad per cycle (the shipped default)
IDS = {name: i + 1 for i, name in enumerate(JOINT_NAMES)}


@pytest.fixture(scope='module')
def follower(calibration):
    return calibration('so101_follower.json')


@pytest.fixture(scope='module')
def emulator(follower, tmp_path_factory):
    link = tmp_path_factory.mktemp('bus') / 'ttySO101'
    with BusEmulator('feetech', range(1, 7), link=link) as emulator:
        follower.store_in(emulator)
        yield emulator


@pytest.fixture(scope='module')
def driver(emulator, follower, hardware_config, tmp_path_factory, ros_domain):
    """The shipped SO-101 parameter file, on the emulated port, with quick diagnostics and reconnects."""
    log = tmp_path_factory.mktemp('driver') / 'arm_driver.log'
    node = NodeProcess('dojo_hardware.arm_driver', params_file=hardware_config / 'so101_feetech.yaml', log_path=log,
                       parameters={'port': emulator.port, 'calibration_file': str(follower.path),
                                   'latency_timer_ms': 50.0,  # generous reply timeouts on a loaded CI host
                                   'diagnostics_period_s': 0.2, 'reconnect_interval_s': 0.2,
                                   'status_rate_hz': 5.0, 'max_consecutive_failures': 3}).start()
    yield node
    code = node.stop()
    assert code == 0, f'arm_driver exited with {code}; log:\n{log.read_text()}'


@pytest.fixture
def arm(driver, probe):
    """The probe, listening to the driver; commands go out on joint_commands."""
    if 'joint_states' not in probe.latest:
        probe.listen('joint_states', JointState, SENSOR_QOS)
        probe.commands = probe.create_publisher(JointState, 'joint_commands', COMMAND_QOS)
    return probe


def command(probe, **targets: float) -> None:
    probe.commands.publish(JointState(name=list(targets), position=[float(v) for v in targets.values()]))


def goal(emulator, joint: str) -> int:
    return emulator.servo(IDS[joint]).get('Goal_Position')


def torque(emulator) -> list[int]:
    return [emulator.servo(i).get('Torque_Enable') for i in range(1, 7)]


def test_configure_publishes_measured_radians_while_inactive_with_torque_off(arm, emulator, follower):
    arm.go(NODE, 'unconfigured')
    emulator.servo(IDS['elbow_flex']).hand_move(round(follower.mid('elbow_flex')) + 300)
    arm.go(NODE, 'inactive')
    msg = arm.fresh('joint_states')
    assert list(msg.name) == list(JOINT_NAMES) and len(msg.velocity) == len(JOINT_NAMES)
    expected = [follower.radians(j, emulator.servo(IDS[j]).get('Present_Position')) for j in JOINT_NAMES]
    np.testing.assert_allclose(arm.positions('joint_states', JOINT_NAMES), expected, atol=1e-9)
    assert arm.positions('joint_states', ['elbow_flex'])[0] == pytest.approx(300 / follower.ticks_per_rad, abs=1e-3)
    assert torque(emulator) == [0] * 6


def test_activate_turns_torque_on_where_the_arm_was_moved_to(arm, emulator, follower):
    arm.go(NODE, 'inactive')
    pan = emulator.servo(IDS['shoulder_pan'])
    pan.hand_move(round(follower.mid('shoulder_pan')) + 200)  # moved by hand while limp; the old goal is stale
    arm.go(NODE, 'active')
    assert torque(emulator) == [1] * 6
    arm.spin_for(0.3)
    assert goal(emulator, 'shoulder_pan') == pan.get('Present_Position') == round(follower.mid('shoulder_pan')) + 200


def test_command_reaches_the_goal_registers_in_ticks_and_joint_states_in_radians(arm, emulator, follower):
    arm.go(NODE, 'active')
    command(arm, shoulder_pan=0.3, gripper=1.0)
    expected = {'shoulder_pan': follower.ticks('shoulder_pan', 0.3), 'gripper': follower.ticks('gripper', 1.0)}
    assert arm.spin_until(lambda: {j: goal(emulator, j) for j in expected} == expected), \
        {j: goal(emulator, j) for j in expected}
    assert arm.spin_until(lambda: np.allclose(arm.positions('joint_states', ['shoulder_pan', 'gripper']),
                                              [0.3, 1.0], atol=2e-3))


def test_max_step_limits_every_cycle_change_of_the_goal(arm, emulator, follower, monkeypatch):
    arm.go(NODE, 'active')
    lift = emulator.servo(IDS['shoulder_lift'])
    written: list[int] = []
    write_bytes = lift.write_bytes

    def recording(address: int, data: bytes) -> bool:
        if address == 42:  # Goal_Position
            written.append(int.from_bytes(data, 'little'))
        return write_bytes(address, data)

    start = goal(emulator, 'shoulder_lift')
    monkeypatch.setattr(lift, 'write_bytes', recording)
    target = follower.ticks('shoulder_lift', -1.0)
    command(arm, shoulder_lift=-1.0)
    assert arm.spin_until(lambda: goal(emulator, 'shoulder_lift') == target), goal(emulator, 'shoulder_lift')
    changes = np.diff([start, *written])
    # 0.05 rad is 32.6 ticks: a step of 33 (rounded to the nearest tick) would be 0.0506 rad
    assert np.all(changes <= 0) and np.abs(changes).max() == math.floor(MAX_STEP * follower.ticks_per_rad) == 32
    assert np.abs(changes).max() / follower.ticks_per_rad <= MAX_STEP
    assert np.count_nonzero(changes) >= math.floor(1.0 / MAX_STEP) - 1  # ramped, not jumped


def test_targets_beyond_the_limits_are_clamped_and_counted(arm, emulator, follower):
    arm.go(NODE, 'active')
    limit = 1.91986  # URDF limit of shoulder_pan, inside the calibrated range
    # the last whole tick inside it (3301, 1.91901 rad): the nearest one (3302) is 0.68 mrad past it
    upper = math.floor(follower.mid('shoulder_pan') + limit * follower.ticks_per_rad)
    assert follower.radians('shoulder_pan', upper) <= limit < follower.radians('shoulder_pan', upper + 1)
    command(arm, shoulder_pan=10.0)
    assert arm.spin_until(lambda: goal(emulator, 'shoulder_pan') == upper), goal(emulator, 'shoulder_pan')
    status = arm.wait_for_status(f'{NODE}: joint_commands', lambda s: 'clamped.shoulder_pan' in arm.values(s))
    assert int(arm.values(status)['clamped.shoulder_pan']) >= 1
    arm.spin_for(0.2)
    assert goal(emulator, 'shoulder_pan') == upper
    lower = math.ceil(follower.mid('shoulder_pan') - limit * follower.ticks_per_rad)
    command(arm, shoulder_pan=-limit)  # at the limit, not over: the same rounding applies
    assert arm.spin_until(lambda: goal(emulator, 'shoulder_pan') == lower, 20), goal(emulator, 'shoulder_pan')
    assert follower.radians('shoulder_pan', lower) >= -limit


def test_a_joint_found_past_a_limit_is_walked_back_to_the_last_tick_inside(arm, emulator, follower):
    arm.go(NODE, 'unconfigured')  # torque off: the arm can be moved by hand
    limit = 1.91986
    outside = follower.motors['shoulder_pan']['range_max'] - 2  # 3308 = 1.93 rad: calibrated, past the URDF limit
    emulator.servo(IDS['shoulder_pan']).hand_move(outside)
    arm.go(NODE, 'active')
    inside = math.floor(follower.mid('shoulder_pan') + limit * follower.ticks_per_rad)  # 3301, not the nearest 3302
    assert arm.spin_until(lambda: goal(emulator, 'shoulder_pan') == inside), goal(emulator, 'shoulder_pan')
    arm.spin_for(0.2)
    assert goal(emulator, 'shoulder_pan') == inside and follower.radians('shoulder_pan', inside) <= limit


def test_bad_commands_are_rejected_counted_and_never_crash(arm, emulator, follower, driver):
    arm.go(NODE, 'active')
    command(arm, shoulder_pan=0.0, wrist_flex=0.2)
    assert arm.spin_until(lambda: goal(emulator, 'wrist_flex') == follower.ticks('wrist_flex', 0.2)
                          and goal(emulator, 'shoulder_pan') == follower.ticks('shoulder_pan', 0.0))
    before = {j: goal(emulator, j) for j in JOINT_NAMES}
    arm.commands.publish(JointState(name=['shoulder_pan', 'bogus_joint'], position=[0.5, 0.5]))
    arm.commands.publish(JointState(name=list(JOINT_NAMES), position=[math.nan, 0, 0, 0, 0, 0]))
    arm.commands.publish(JointState(name=list(JOINT_NAMES), position=[math.inf, 0, 0, 0, 0, 0]))
    arm.commands.publish(JointState(name=list(JOINT_NAMES), position=[0.5, 0.5]))
    arm.commands.publish(JointState(name=list(JOINT_NAMES)))

    def rejected(s: DiagnosticStatus) -> bool:
        counts = arm.values(s)
        return all(int(counts.get(f'rejected.{r}', 0)) >= 1 for r in ('unknown_joint', 'non_finite', 'length_mismatch'))

    status = arm.wait_for_status(f'{NODE}: joint_commands', rejected)
    counts = arm.values(status)
    assert int(counts['rejected.non_finite']) >= 1 and int(counts['rejected.length_mismatch']) >= 2
    assert status.level == DiagnosticStatus.WARN
    arm.spin_for(0.3)
    assert {j: goal(emulator, j) for j in JOINT_NAMES} == before and driver.alive()


def test_deactivate_holds_the_pose_and_ignores_commands(arm, emulator):
    arm.go(NODE, 'active')
    arm.go(NODE, 'inactive')
    held = {j: goal(emulator, j) for j in JOINT_NAMES}
    command(arm, wrist_roll=1.0)
    arm.spin_for(0.5)
    assert torque(emulator) == [1] * 6 and {j: goal(emulator, j) for j in JOINT_NAMES} == held
    status = arm.wait_for_status(f'{NODE}: joint_commands', lambda s: 'ignored.inactive' in arm.values(s))
    assert int(arm.values(status)['ignored.inactive']) >= 1


def test_dropped_and_corrupt_replies_are_retried_and_reported(arm, emulator, driver):
    arm.go(NODE, 'inactive')
    first = arm.values(arm.wait_for_status(f'{NODE}: bus', lambda s: 'bus.retries' in arm.values(s)))
    emulator.drop_replies(1)  # one transaction each: a corrupt reply in the same one would end it first
    arm.wait_for_status(f'{NODE}: bus', lambda s: int(arm.values(s)['bus.timeouts']) > int(first['bus.timeouts']))
    emulator.corrupt_replies(1)
    status = arm.wait_for_status(f'{NODE}: bus',
                                 lambda s: int(arm.values(s)['bus.corrupt']) > int(first['bus.corrupt']))
    now = arm.values(status)
    assert int(now['bus.retries']) >= int(first['bus.retries']) + 2
    assert status.level != DiagnosticStatus.ERROR and now['state'] == 'running'
    arm.fresh('joint_states')
    assert driver.alive()


def test_unplugged_port_is_an_error_and_the_driver_recovers_holding_still(arm, emulator, follower):
    arm.go(NODE, 'active')
    command(arm, elbow_flex=0.2)
    elbow = follower.ticks('elbow_flex', 0.2)
    assert arm.spin_until(lambda: goal(emulator, 'elbow_flex') == elbow)
    emulator.unplug()
    try:
        status = arm.wait_for_status(f'{NODE}: bus', lambda s: s.level == DiagnosticStatus.ERROR)
        assert 'fault' in status.message
        assert arm.spin_until(lambda: arm.lifecycle_state(NODE) == 'inactive')  # deactivated itself
    finally:
        emulator.replug()
    status = arm.wait_for_status(f'{NODE}: bus', lambda s: s.level != DiagnosticStatus.ERROR)
    assert 'recovered' in status.message and arm.values(status)['state'] == 'running'
    arm.fresh('joint_states')
    # Re-read the pose, goal set to it, torque on again: the arm holds where it is ...
    assert torque(emulator) == [1] * 6
    assert goal(emulator, 'elbow_flex') == emulator.servo(IDS['elbow_flex']).get('Present_Position')
    # ... and follows commands only once re-activated.
    command(arm, elbow_flex=-0.2)
    arm.spin_for(0.3)
    assert goal(emulator, 'elbow_flex') == emulator.servo(IDS['elbow_flex']).get('Present_Position')
    arm.go(NODE, 'active')
    command(arm, elbow_flex=-0.2)
    assert arm.spin_until(lambda: goal(emulator, 'elbow_flex') == follower.ticks('elbow_flex', -0.2))


def test_a_silent_servo_faults_the_bus_after_n_failed_cycles_and_nothing_moves(arm, emulator):
    arm.go(NODE, 'active')
    held = {j: goal(emulator, j) for j in JOINT_NAMES}
    wrist = emulator.servo(IDS['wrist_flex'])
    wrist.responding = False  # e.g. its cable came loose: the port itself is fine
    try:
        status = arm.wait_for_status(f'{NODE}: bus', lambda s: s.level == DiagnosticStatus.ERROR, 20)
        assert int(arm.values(status)['consecutive_failures']) >= 3 and 'id 4' in status.message
        assert arm.spin_until(lambda: arm.lifecycle_state(NODE) == 'inactive')
        command(arm, shoulder_pan=0.5)
        arm.spin_for(0.3)
        assert {j: goal(emulator, j) for j in JOINT_NAMES} == held
    finally:
        wrist.responding = True
    status = arm.wait_for_status(f'{NODE}: bus', lambda s: s.level != DiagnosticStatus.ERROR, 20)
    assert 'recovered' in status.message and torque(emulator) == [1] * 6


def test_cleanup_turns_torque_off_and_stops_publishing(arm, emulator):
    arm.go(NODE, 'active')
    assert torque(emulator) == [1] * 6
    arm.go(NODE, 'unconfigured')
    assert torque(emulator) == [0] * 6
    arm.spin_for(0.3)
    count = arm.counts['joint_states']
    arm.spin_for(0.5)
    assert arm.counts['joint_states'] == count
    status = arm.wait_for_status(f'{NODE}: bus', lambda s: True)
    assert status.message.startswith('unconfigured')
