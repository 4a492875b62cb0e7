"""FeetechBus through scservo_sdk against the emulated STS3215 chain of an SO-101 follower."""
from __future__ import annotations

import errno
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from dojo_core.motors import (FeetechBus, MotorBusConfig, MotorBusError, MotorCorruptPacket, MotorNotConnected,
                              MotorNotFound, MotorPortError, MotorTimeout, load_calibration, make_bus)
from dojo_core.motors.emulator import BusEmulator
from dojo_core.robot.description import JOINT_NAMES

LATENCY_MS = 50.0  # generous packet timeouts: the emulator shares a loaded CI host with the test
CALIBRATION = load_calibration(Path(__file__).parents[1] / 'data' / 'calibration' / 'so101_follower.json')
# Encoder readings that put every joint mid-range under CALIBRATION (present = encoder - offset).
MID_POSE = {m.id: ((m.range_min + m.range_max) // 2 + m.homing_offset) % 4096 for m in CALIBRATION.values()}


@pytest.fixture
def emulator(tmp_path):
    with BusEmulator('feetech', range(1, 7), positions=MID_POSE, link=tmp_path / 'ttyFEETECH') as emulator:
        yield emulator


@pytest.fixture
def bus(emulator):
    bus = make_bus(MotorBusConfig(port=emulator.port, latency_timer_ms=LATENCY_MS), CALIBRATION)
    bus.connect()
    yield bus
    bus.close()


def wait_until_at(bus, goals: dict[str, float], tolerance=1e-9, timeout=10.0) -> np.ndarray:
    """Poll until the named joints reach their goals (or time runs out); the last positions."""
    index = [JOINT_NAMES.index(j) for j in goals]
    deadline = time.monotonic() + timeout
    while True:
        positions = bus.read_positions()
        if np.all(np.abs(positions[index] - list(goals.values())) < tolerance) or time.monotonic() > deadline:
            return positions
        time.sleep(0.01)


def test_connect_writes_lerobot_setup_and_calibration_then_leaves_torque_off(emulator, bus):
    assert isinstance(bus, FeetechBus)
    for joint, motor in CALIBRATION.items():
        servo = emulator.servo(motor.id)
        # P=16 (21), D=32 (22), I=0 (23), position mode (33), no reply delay (7): raw addresses.
        assert (servo.raw(21, 1), servo.raw(22, 1), servo.raw(23, 1)) == (16, 32, 0)
        assert servo.raw(33, 1) == 0 and servo.raw(7, 1) == 0
        assert servo.get('Homing_Offset') == motor.homing_offset
        assert (servo.raw(9, 2), servo.raw(11, 2)) == (motor.range_min, motor.range_max)
        assert servo.raw(40, 1) == 0 and servo.raw(55, 1) == 1  # torque off, EEPROM locked again
    gripper = emulator.servo(6)
    assert gripper.raw(16, 2) == 500 and gripper.raw(48, 2) == 500  # half torque on the jaw
    assert gripper.get('Protection_Current') == 250 and gripper.get('Overload_Torque') == 25
    assert emulator.servo(1).raw(16, 2) == 1000
    assert bus.counters.failures == 0


def test_second_connect_rewrites_nothing(emulator, bus):
    bus.close()
    writes, retries = emulator.stats.writes, bus.counters.retries
    bus.connect()
    # Torque off (6 writes, plus any retried one); the registers already hold the values: no flash writes.
    assert 6 <= emulator.stats.writes - writes <= 6 + bus.counters.retries - retries


def test_positions_in_radians_follow_goals_with_first_order_motion(emulator, bus):
    np.testing.assert_allclose(bus.read_positions()[:5], 0.0, atol=2 * np.pi / 4096)
    for servo in emulator.servos.values():
        servo.max_speed = 300  # ticks/s: each move below takes over half a second
    bus.enable_torque()
    goals = {'shoulder_pan': 0.5, 'elbow_flex': -0.4, 'gripper': 1.0}
    sent = bus.write_goal_positions(goals)
    assert sent == pytest.approx(goals, abs=np.pi / 4096)
    index = [JOINT_NAMES.index(j) for j in goals]
    first = bus.read_positions()[index]
    final = wait_until_at(bus, sent)
    assert np.all(np.abs(first - list(sent.values())) > 0.01)  # it took time to get there
    np.testing.assert_allclose(final[index], list(sent.values()), atol=1e-9)
    # The wire values: Goal_Position ticks = zero + rad / scale, inside the calibrated range.
    pan = CALIBRATION['shoulder_pan']
    assert emulator.servo(1).get('Goal_Position') == round((pan.range_min + pan.range_max) / 2 + 0.5 * 4096 / (2 * np.pi))


def test_goals_are_clipped_to_the_calibrated_range(emulator, bus):
    sent = bus.write_goal_positions([3.0, -3.0, 3.0, -3.0, 0.0, 5.0])
    bus.read_positions()  # answered after the emulator has processed the (unacknowledged) sync write
    for joint, value in sent.items():
        motor = CALIBRATION[joint]
        assert motor.range_min <= emulator.servo(motor.id).get('Goal_Position') <= motor.range_max
    assert sent['gripper'] == pytest.approx(1.74533)
    assert emulator.servo(6).get('Goal_Position') == CALIBRATION['gripper'].range_max
    with pytest.raises(ValueError, match='non-finite'):
        bus.write_goal_positions({'gripper': float('nan')})


def test_enable_torque_holds_the_pose_the_arm_was_moved_to(emulator, bus):
    elbow = emulator.servo(3)
    elbow.hand_move(elbow.get('Present_Position') + 400)  # operator moved it; the stale goal stays
    moved = bus.read_positions()
    bus.enable_torque(['elbow_flex'])
    time.sleep(0.1)
    np.testing.assert_allclose(bus.read_positions(), moved, atol=1e-9)
    assert elbow.get('Torque_Enable') == 1 and emulator.servo(2).get('Torque_Enable') == 0
    bus.disable_torque()
    assert all(emulator.servo(i).get('Torque_Enable') == 0 for i in range(1, 7))


def test_joint_state_and_status_at_low_rate(emulator, bus):
    emulator.servo(4).set('Present_Temperature', 61)
    emulator.servo(5).alarms = 0b100100  # overheat + overload
    status = bus.read_status()
    assert status.names == JOINT_NAMES
    np.testing.assert_allclose(status.voltage, 7.4)
    assert status.temperature[3] == 61 and status.alarms[4] == 0b100100 and status.alarms[0] == 0
    assert bus.alarm_text(int(status.alarms[4])) == 'overheat, overload'
    emulator.servo(1).max_speed = 500  # ticks/s: about 1.3 s for the move, so it is still moving below
    bus.enable_torque(['shoulder_pan'])
    bus.write_goal_positions({'shoulder_pan': 1.0})
    time.sleep(0.05)
    reading = bus.read_joint_state()
    assert reading.velocity[0] > 0.5 and np.all(reading.velocity[1:] == 0)
    assert bus.read_status().load[0] > 0


def test_status_alarm_bits_are_counted_not_fatal(emulator, bus):
    emulator.servo(2).alarms = 0b1  # voltage alarm rides along in every status packet
    before = bus.counters.status_errors
    assert bus.read('Present_Temperature', 'shoulder_lift') == 30
    assert bus.counters.status_errors == before + 1 and bus.last_status_error[2] == 1


def test_dropped_and_corrupt_replies_are_retried_and_counted(emulator, bus):
    expected = bus.read_positions()
    before = bus.counters
    emulator.drop_replies(1)
    np.testing.assert_allclose(bus.read_positions(), expected)
    emulator.corrupt_replies(1)
    np.testing.assert_allclose(bus.read_positions(), expected)
    after = bus.counters
    assert after.retries >= before.retries + 2
    assert after.timeouts >= before.timeouts + 1 and after.corrupt == before.corrupt + 1
    assert after.failures == before.failures == 0


def test_retries_exhausted_raise_typed_errors_naming_the_servo(emulator, bus):
    emulator.servo(3).responding = False
    before = bus.counters
    with pytest.raises(MotorTimeout, match='no valid reply from id 3') as caught:
        bus.read_positions()
    assert caught.value.motor_ids == (3,)
    after = bus.counters
    assert after.failures == before.failures + 1 and after.retries == before.retries + bus.config.retries
    emulator.servo(3).responding = True
    emulator.corrupt_replies(bus.config.retries + 1)
    with pytest.raises(MotorCorruptPacket, match='id 2'):
        bus.read('Present_Position', 'shoulder_lift')
    np.testing.assert_allclose(bus.read_positions()[:5], 0.0, atol=0.002)  # and it recovers


def test_connect_names_missing_and_wrong_servos(emulator):
    emulator.servo(4).responding = False
    config = MotorBusConfig(port=emulator.port, retries=1, latency_timer_ms=LATENCY_MS)
    with pytest.raises(MotorNotFound, match=r'wrist_flex \(id 4\)') as caught:
        make_bus(config).connect()
    assert caught.value.motor_ids == (4,)
    emulator.servo(4).responding = True
    with pytest.raises(MotorNotFound, match='expected sts3250 = 2825, found 777'):
        make_bus(MotorBusConfig(port=emulator.port, motors={'gripper': (6, 'sts3250')},
                                 latency_timer_ms=LATENCY_MS)).connect()


def test_port_loss_then_reconnect_keeps_the_servos_state(emulator, bus):
    bus.enable_torque()
    target = wait_until_at(bus, bus.write_goal_positions({'wrist_flex': 0.3}))
    assert target[3] == pytest.approx(0.3, abs=0.001)
    emulator.unplug()
    with pytest.raises(MotorPortError, match='reconnect'):
        bus.read_positions()
    assert not bus.is_connected and bus.counters.port_errors == 1
    with pytest.raises(MotorNotConnected):
        bus.read_positions()
    with pytest.raises(MotorPortError, match='cannot open'):
        bus.reconnect()
    emulator.replug()
    bus.reconnect()
    assert bus.counters.reconnects == 1
    assert emulator.servo(4).get('Torque_Enable') == 1  # reconnect does not drop the arm
    np.testing.assert_allclose(bus.read_positions(), target, atol=1e-9)


def test_a_signal_that_interrupts_a_request_is_not_a_lost_port(emulator, bus, monkeypatch):
    """Ctrl-C landing in pyserial's flush() (termios.tcdrain, which neither the kernel nor Python
    restarts) fails it with EINTR: the torque-off must go on, not end with 'serial port lost'."""
    bus.enable_torque()
    serial_port = bus._port.ser
    flush, interrupts = serial_port.flush, [3, 5]  # the 3rd and 5th flush (one per request) are interrupted
    calls = 0

    def interrupted_flush() -> None:
        nonlocal calls
        calls += 1
        if calls in interrupts:
            raise termios.error(errno.EINTR, 'Interrupted system call')
        flush()

    monkeypatch.setattr(serial_port, 'flush', interrupted_flush)
    before = bus.counters
    bus.disable_torque()
    assert [emulator.servo(i).get('Torque_Enable') for i in range(1, 7)] == [0] * 6
    assert bus.is_connected and bus.counters.retries == before.retries + 2
    assert bus.counters.port_errors == before.port_errors


def test_scan_finds_the_ids(emulator):
    bus = make_bus(MotorBusConfig(port=emulator.port, latency_timer_ms=LATENCY_MS))
    bus.connect(check_motors=False, configure=False)
    try:
        assert bus.scan(range(0, 9)) == {i: 777 for i in range(1, 7)}
    finally:
        bus.close()


def test_bad_configuration_is_rejected_before_touching_the_port(tmp_path):
    port = str(tmp_path / 'none')
    with pytest.raises(ValueError, match='unique'):
        make_bus(MotorBusConfig(port=port, motors={'a': (1, 'sts3215'), 'b': (1, 'sts3215')}))
    with pytest.raises(ValueError, match='baudrate'):
        make_bus(MotorBusConfig(port=port, baudrate=3_000_000))
    with pytest.raises(KeyError, match='no register'):
        make_bus(MotorBusConfig(port=port, setup={'*': {'P_Gain': 1}}))
    with pytest.raises(ValueError, match='dynamixel'):
        make_bus(MotorBusConfig(port=port, protocol='dynamixel'))
    with pytest.raises(ValueError, match='Homing_Offset'):
        bad = {**CALIBRATION, 'gripper': CALIBRATION['gripper'].__class__(6, 0, 3000, 10, 20)}
        make_bus(MotorBusConfig(port=port), bad)
    with pytest.raises(MotorPortError, match='cannot open'):
        make_bus(MotorBusConfig(port=port)).connect()
    with pytest.raises(MotorBusError, match='no calibration'):
        make_bus(MotorBusConfig(port=port)).read_positions()
