"""DynamixelBus through dynamixel_sdk (protocol 2.0) against emulated X-series servos."""
from __future__ import annotations

import time

import numpy as np
import pytest

from dojo_core.motors import (DynamixelBus, MotorBusConfig, MotorCalibration, MotorNotFound, MotorPortError,
                              MotorStatusError, MotorTimeout, make_bus)
from dojo_core.motors.emulator import BusEmulator

MOTORS = {'shoulder_pan': (1, 'xl430-w250'), 'shoulder_lift': (2, 'xl430-w250'), 'elbow_flex': (3, 'xl430-w250'),
          'wrist_flex': (4, 'xl330-m288'), 'wrist_roll': (5, 'xl330-m288'), 'gripper': (6, 'xl330-m288')}
LATENCY_MS = 50.0  # generous packet timeouts: the emulator shares a loaded CI host with the test
# elbow_flex inverted (drive_mode 1): the servo's Drive_Mode register does it. Offsets put every joint
# at 2000 ticks (mid-range) from the emulator's initial encoder reading of 2048.
OFFSETS = {'elbow_flex': 2000 + 2048}
CALIBRATION = {name: MotorCalibration(i, int(name in OFFSETS), OFFSETS.get(name, -48), 1000, 3000)
               for name, (i, _) in MOTORS.items()}


@pytest.fixture
def emulator(tmp_path):
    models = {i: model for i, model in MOTORS.values()}
    with BusEmulator('dynamixel', models, model=models, link=tmp_path / 'ttyDXL') as emulator:
        yield emulator


@pytest.fixture
def bus(emulator):
    bus = make_bus(MotorBusConfig(port=emulator.port, protocol='dynamixel', motors=MOTORS,
                                  latency_timer_ms=LATENCY_MS), CALIBRATION)
    bus.connect()
    yield bus
    bus.close()


def test_connect_writes_calibration_and_drive_mode_into_the_servos(emulator, bus):
    assert isinstance(bus, DynamixelBus)
    for name, motor in CALIBRATION.items():
        servo = emulator.servo(motor.id)
        assert servo.raw(20, 4) == (motor.homing_offset & 0xFFFFFFFF)  # two's complement int32
        assert (servo.raw(52, 4), servo.raw(48, 4)) == (motor.range_min, motor.range_max)
        assert servo.raw(10, 1) == motor.drive_mode and servo.raw(11, 1) == 3 and servo.raw(9, 1) == 0
        assert servo.raw(64, 1) == 0


def test_round_trip_in_radians_with_the_inversion_done_by_the_servo(emulator, bus):
    bus.enable_torque()
    goals = {'shoulder_pan': 0.4, 'elbow_flex': 0.4, 'gripper': 0.2}
    sent = bus.write_goal_positions(goals)
    assert sent == pytest.approx(goals, abs=np.pi / 4096)
    bus.read_positions()  # answered after the emulator has processed the (unacknowledged) sync write
    # Same angle, same Goal_Position ticks: the inverted joint is not inverted again in software...
    assert emulator.servo(1).get('Goal_Position') == emulator.servo(3).get('Goal_Position') == 2000 + 261
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        positions = bus.read_positions()
        if np.allclose(positions[[0, 2, 5]], list(sent.values()), rtol=0, atol=1e-9):
            break
        time.sleep(0.01)
    np.testing.assert_allclose(positions[[0, 2, 5]], list(sent.values()), atol=1e-9)
    np.testing.assert_allclose(positions[[1, 3, 4]], 0.0, atol=1e-9)
    # ...while its encoder turned the other way (Present_Position = -encoder + offset).
    assert emulator.servo(3).encoder == pytest.approx(-(2261 - CALIBRATION['elbow_flex'].homing_offset), abs=0.5)
    assert emulator.servo(1).encoder == pytest.approx(2261 - CALIBRATION['shoulder_pan'].homing_offset, abs=0.5)


def test_faults_are_retried_counted_and_then_raised_as_typed_errors(emulator, bus):
    expected = bus.read_positions()
    before = bus.counters
    emulator.drop_replies(1)
    np.testing.assert_allclose(bus.read_positions(), expected)
    emulator.corrupt_replies(1)
    np.testing.assert_allclose(bus.read_positions(), expected)
    after = bus.counters
    assert after.retries >= before.retries + 2 and after.corrupt == before.corrupt + 1
    emulator.servo(5).responding = False
    with pytest.raises(MotorTimeout, match='id 5') as caught:
        bus.read_positions()
    assert caught.value.motor_ids == (5,)
    emulator.servo(5).responding = True
    # A refused instruction (read-only register) is a status error, not retried.
    with pytest.raises(MotorStatusError, match='Writing or Reading is not available'):
        bus.write('Present_Position', 'gripper', 5)


def test_port_loss_and_reconnect(emulator, bus):
    positions = bus.read_positions()
    emulator.unplug()
    with pytest.raises(MotorPortError):
        bus.read_positions()
    emulator.replug()
    bus.reconnect()
    np.testing.assert_allclose(bus.read_positions(), positions)


def test_scan_uses_ping_and_connect_checks_models(emulator):
    bus = make_bus(MotorBusConfig(port=emulator.port, protocol='dynamixel', motors=MOTORS,
                                  latency_timer_ms=LATENCY_MS))
    bus.connect(check_motors=False, configure=False)
    try:
        assert bus.scan(range(0, 8)) == {1: 1060, 2: 1060, 3: 1060, 4: 1200, 5: 1200, 6: 1200}
    finally:
        bus.close()
    wrong = {**MOTORS, 'gripper': (6, 'xm430-w350')}
    with pytest.raises(MotorNotFound, match='gripper'):
        make_bus(MotorBusConfig(port=emulator.port, protocol='dynamixel', motors=wrong,
                                 latency_timer_ms=LATENCY_MS)).connect()


def test_status_per_model_units_and_hardware_alert(emulator, bus):
    emulator.servo(6).alarms = 0b100000  # overload: bit 7 (alert) rides on every status packet
    emulator.servo(2).set('Present_Temperature', 55)
    before = bus.counters.status_errors
    assert bus.read('Present_Temperature', 'gripper') == 30  # an alarm is reported, not an error
    assert bus.counters.status_errors == before + 1 and bus.last_status_error[6] == 0x80
    status = bus.read_status()
    np.testing.assert_allclose(status.voltage, 12.0)
    assert status.temperature[1] == 55 and list(status.alarms) == [0, 0, 0, 0, 0, 32]
    assert bus.alarm_text(32) == 'overload'
    emulator.servo(6).max_speed = 300  # ticks/s: still moving below
    bus.enable_torque(['gripper'])
    bus.write_goal_positions({'gripper': 1.5})
    time.sleep(0.05)
    status = bus.read_status()
    assert status.velocity[5] > 0.1 and status.load[5] > 0  # 300 ticks/s on the jaw's range is ~0.29 rad/s
    # Present_Current of the XL330 is in mA, scaled by its 1750 mA default limit.
    assert status.load[5] == pytest.approx(emulator.servo(6).get('Present_Current') / 1750, rel=0.5)
