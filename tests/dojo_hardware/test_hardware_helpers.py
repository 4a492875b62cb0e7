"""The pieces of dojo_hardware that need no running node: bus parameters, limits, commands, interventions."""
from __future__ import annotations

import math

import numpy as np
import pytest
from rclpy.logging import get_logger
from sensor_msgs.msg import JointState

from dojo_core.motors import MotorCalibration, TickMapping
from dojo_core.robot.description import JOINT_NAMES
from dojo_hardware.commands import CommandFilter
from dojo_hardware.intervention import InterventionDetector, InterventionRule
from dojo_hardware.limits import check_step, urdf_limits, within_calibration
from dojo_hardware.servo_bus import BusParams, parse_setup_registers


def test_bus_params_build_the_motor_bus_config():
    params = BusParams(bus='dynamixel', port='/dev/null',
                       motor_models=['xl430-w250', 'xl430-w250'] + ['xl330-m288'] * 4,
                       setup_registers=['*:Return_Delay_Time=0', 'gripper:Operating_Mode=0x5'])
    config = params.motor_bus_config()
    assert config.protocol == 'dynamixel' and config.motors['gripper'] == (6, 'xl330-m288')
    assert config.setup == {'*': {'Return_Delay_Time': 0}, 'gripper': {'Operating_Mode': 5}}
    assert BusParams().motor_bus_config().motors['elbow_flex'] == (3, 'sts3215')
    assert parse_setup_registers([], list(JOINT_NAMES)) is None  # the bus defaults


@pytest.mark.parametrize('kwargs, message', [
    ({'bus': 'canbus'}, 'bus must be one of'),
    ({'motor_ids': [1, 2, 3]}, 'one id per joint'),
    ({'motor_models': ['sts3215', 'sts3215']}, 'one per joint'),
    ({'motor_models': ['sts9999']}, 'unknown motor model'),
    ({'motor_ids': [1, 1, 2, 3, 4, 5]}, 'unique'),
    ({'setup_registers': ['P_Coefficient=16']}, "'<joint or \\*>:<Register>=<value>'"),
    ({'setup_registers': ['elbow:P_Coefficient=16']}, "'elbow' is not one of"),
    ({'setup_registers': ['*:P_Coefficient=high']}, 'not an integer'),
    ({'setup_registers': ['*:P_Gain=16']}, 'no register'),
    ({'setup_registers': ['*:P_Coefficient=300']}, 'does not fit'),
    ({'status_rate_hz': 200.0}, 'cannot exceed'),
    ({'voltage_min_v': 9.0, 'voltage_max_v': 8.0}, 'must be below'),
])
def test_bad_bus_params_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BusParams(port='/dev/null', **kwargs)


def test_limits_are_the_urdf_limits_narrowed_by_the_calibrated_range():
    limits = urdf_limits(JOINT_NAMES)
    assert limits.upper[0] == pytest.approx(1.91986)
    # shoulder_pan recorded over +-1000 ticks (+-1.53 rad): narrower than the URDF's +-1.92 rad
    calibration = {name: MotorCalibration(i + 1, 0, 0, 1048 if name == 'shoulder_pan' else 0,
                                          3048 if name == 'shoulder_pan' else 4095)
                   for i, name in enumerate(JOINT_NAMES)}
    narrowed = within_calibration(limits, TickMapping.from_calibration(calibration, JOINT_NAMES))
    assert narrowed.upper[0] == pytest.approx(1000 * 2 * math.pi / 4096)
    np.testing.assert_allclose(narrowed.upper[1:], limits.upper[1:])
    with pytest.raises(ValueError, match='URDF has no limited joint'):
        urdf_limits(['shoulder_pan', 'tail'])


def test_a_max_step_below_one_servo_tick_is_refused():
    mapping = TickMapping.from_calibration({'shoulder_pan': MotorCalibration(1, 0, 0, 790, 3310)})
    check_step(2 * math.pi / 4096, mapping)
    with pytest.raises(ValueError, match="below one servo tick of \\['shoulder_pan'\\]"):
        check_step(1e-3, mapping)


def test_command_filter_merges_subsets_clamps_and_rejects_by_reason():
    limits = urdf_limits(JOINT_NAMES)
    commands = CommandFilter(JOINT_NAMES, get_logger('test_command_filter'))
    target = np.zeros(6)
    values = commands.positions(JointState(name=['gripper', 'shoulder_pan'], position=[0.5, 5.0]))
    merged = commands.merge(values, target, limits)
    np.testing.assert_allclose(merged, [1.91986, 0, 0, 0, 0, 0.5])
    assert commands.clamped.snapshot() == {'shoulder_pan': 1}
    for bad in (JointState(name=['tail'], position=[0.0]), JointState(name=['gripper'], position=[math.nan]),
                JointState(name=['gripper', 'elbow_flex'], position=[0.1]), JointState(name=['gripper'])):
        assert commands.positions(bad) is None
    assert commands.rejected.snapshot() == {'unknown_joint': 1, 'non_finite': 1, 'length_mismatch': 2}


def test_deviation_intervention_holds_for_hold_s():
    detector = InterventionDetector(InterventionRule('deviation', threshold_rad=0.1, hold_s=0.5))
    follower = np.zeros(3)
    assert not detector.update(0.0, np.array([0.05, 0.0, 0.0]), follower)
    assert not detector.update(0.1, np.array([0.5, 0.0, 0.0]), None)  # no follower state: no judgement
    assert detector.update(0.2, np.array([0.0, 0.0, -0.3]), follower) and detector.deviation == pytest.approx(0.3)
    assert detector.update(0.6, np.zeros(3), follower)  # held
    assert not detector.update(0.8, np.zeros(3), follower)
    assert not detector.update(0.9, np.array([5.0, 0.0, 0.0]), np.array([np.nan, 0.0, 0.0]))  # unknown joint


def test_motion_intervention_ignores_encoder_noise_and_sees_a_hand():
    detector = InterventionDetector(InterventionRule('motion', speed_rad_s=0.5, hold_s=0.3))
    tick = 2 * math.pi / 4096
    t = 0.0
    for k in range(50):  # 100 Hz, one-tick jitter: about 0.015 rad/s over the 0.1 s window
        t = k * 0.01
        assert not detector.update(t, np.array([tick * (k % 2), 0.0]))
    for k in range(1, 20):  # the operator turns the first joint at 1 rad/s
        assert detector.update(t + k * 0.01, np.array([k * 0.01, 0.0])) == (k >= 6)
    assert detector.speed == pytest.approx(1.0, rel=0.05)
    end = t + 0.19
    assert detector.update(end + 0.2, np.array([0.19, 0.0]))  # still, but within hold_s
    assert not detector.update(end + 0.6, np.array([0.19, 0.0]))


def test_always_and_off_are_constant():
    with pytest.raises(ValueError, match='intervention mode'):
        InterventionRule('sometimes')
    assert InterventionDetector(InterventionRule('always')).update(0.0, np.zeros(1))
    assert not InterventionDetector(InterventionRule('off')).update(0.0, np.zeros(1), np.ones(1))
