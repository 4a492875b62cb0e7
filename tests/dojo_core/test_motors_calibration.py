"""Calibration: LeRobot JSON in and out, and the tick <-> radian mapping (direction, gripper range, clipping)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dojo_core.motors.calibration import (GRIPPER_RANGE, MotorCalibration, TickMapping, calibration_from_json,
                                          load_calibration, save_calibration)
from dojo_core.robot.description import JOINT_NAMES, expand_xacro, joint_limits

FIXTURE = Path(__file__).parents[1] / 'data' / 'calibration' / 'so101_follower.json'


def test_lerobot_json_round_trips(tmp_path):
    calibration = load_calibration(FIXTURE)
    assert list(calibration) == list(JOINT_NAMES)
    assert calibration['gripper'] == MotorCalibration(id=6, drive_mode=0, homing_offset=1403, range_min=2021,
                                                      range_max=3483)
    out = save_calibration(calibration, tmp_path / 'nested' / 'cal.json')
    assert json.loads(out.read_text()) == json.loads(FIXTURE.read_text())
    assert load_calibration(out) == calibration


@pytest.mark.parametrize('entry, message', [
    ({'id': 1, 'drive_mode': 0, 'homing_offset': 0, 'range_min': 10}, 'lacks'),
    ({'id': 1, 'drive_mode': 2, 'homing_offset': 0, 'range_min': 10, 'range_max': 20}, 'drive_mode'),
    ({'id': 1, 'drive_mode': 0, 'homing_offset': 0, 'range_min': 20, 'range_max': 20}, 'range_min'),
    ({'id': 1, 'drive_mode': 0, 'homing_offset': 0.5, 'range_min': 10, 'range_max': 20}, 'integers'),
])
def test_bad_entries_are_rejected_naming_the_motor(entry, message):
    with pytest.raises(ValueError, match=message):
        calibration_from_json({'elbow_flex': entry})


def test_invalid_json_file_gives_a_clear_error(tmp_path):
    path = tmp_path / 'broken.json'
    path.write_text('{"shoulder_pan": ')
    with pytest.raises(ValueError, match='not valid JSON'):
        load_calibration(path)


def test_arm_joints_are_zero_mid_range_at_4096_ticks_per_turn():
    calibration = load_calibration(FIXTURE)
    mapping = TickMapping.from_calibration(calibration)
    mid = np.array([(m.range_min + m.range_max) / 2 for m in calibration.values()])
    np.testing.assert_allclose(mapping.to_radians(mid)[:5], 0.0, atol=1e-12)
    quarter = mapping.to_radians(mid + 1024)[:5]
    np.testing.assert_allclose(quarter, math.pi / 2)
    # LeRobot's degree mode ((ticks - mid) * 360 / 4095) agrees to within 0.05 degrees over the range.
    ticks = np.array([m.range_max for m in calibration.values()])
    lerobot_deg = (ticks - mid) * 360 / 4095
    assert np.max(np.abs(np.degrees(mapping.to_radians(ticks))[:5] - lerobot_deg[:5])) < 0.05


def test_drive_mode_inverts_in_software_unless_the_servo_does_it():
    motor = {'elbow_flex': MotorCalibration(3, drive_mode=1, homing_offset=0, range_min=1000, range_max=3000)}
    software = TickMapping.from_calibration(motor)
    servo = TickMapping.from_calibration(motor, apply_drive_mode=False)
    assert software.to_radians([2100])[0] == pytest.approx(-100 * 2 * math.pi / 4096)
    assert servo.to_radians([2100])[0] == pytest.approx(+100 * 2 * math.pi / 4096)
    assert software.to_ticks([0.3])[0] == round(2000 - 0.3 * 4096 / (2 * math.pi))


def test_gripper_range_maps_onto_the_urdf_jaw_limits_closed_end_first():
    limits = joint_limits(expand_xacro(), ('gripper',))
    assert (limits.lower[0], limits.upper[0]) == pytest.approx(GRIPPER_RANGE)
    for drive_mode, (closed, opened) in ((0, (2021, 3483)), (1, (3483, 2021))):
        motor = {'gripper': MotorCalibration(6, drive_mode, 0, 2021, 3483)}
        mapping = TickMapping.from_calibration(motor)
        np.testing.assert_allclose(mapping.to_radians([closed, opened]), GRIPPER_RANGE)
        assert mapping.to_ticks([GRIPPER_RANGE[0]])[0] == closed
        np.testing.assert_allclose([mapping.lower[0], mapping.upper[0]], GRIPPER_RANGE)


def test_to_ticks_clips_to_the_calibrated_range_and_round_trips_inside_it():
    calibration = load_calibration(FIXTURE)
    mapping = TickMapping.from_calibration(calibration)
    ticks = mapping.to_ticks(np.full(6, 10.0))
    np.testing.assert_array_equal(ticks, [m.range_max for m in calibration.values()])
    ticks = mapping.to_ticks(np.full(6, -10.0))
    np.testing.assert_array_equal(ticks, [m.range_min for m in calibration.values()])
    inside = np.array([1000, 2000, 1500, 3000, 17, 2500])
    np.testing.assert_array_equal(mapping.to_ticks(mapping.to_radians(inside)), inside)
    subset = mapping.select(['gripper', 'shoulder_pan'])
    np.testing.assert_allclose(subset.to_radians([2500, 1000]), mapping.to_radians(inside)[[5, 0]])


def test_ticks_within_windows_round_toward_the_inside_of_limits_and_steps():
    """SO-101 shoulder_pan (range 790..3310, mid 2050, 4096/2pi ticks per rad) at its URDF limits
    +-1.91986 rad: the nearest ticks, 3302 and 798, lie 0.68 mrad past them; within them, 3301 and 799."""
    pan = TickMapping.from_calibration({'shoulder_pan': MotorCalibration(1, 0, 0, 790, 3310)})
    tick = 2 * math.pi / 4096
    limits = ([-1.91986], [1.91986])
    assert pan.to_ticks([1.91986])[0] == 3302 and pan.to_radians([3302])[0] == pytest.approx(1.920544, abs=1e-6)
    assert pan.to_ticks([1.91986], [limits])[0] == 3301
    assert pan.to_radians([3301])[0] == pytest.approx(1.919010, abs=1e-6) and pan.to_radians([3301])[0] <= 1.91986
    assert pan.to_ticks([-1.91986], [limits])[0] == 799 and pan.to_radians([799])[0] >= -1.91986
    assert pan.to_ticks([0.3], [limits])[0] == pan.to_ticks([0.3])[0] == 2246  # the nearest one when inside
    # a step of 0.05 rad from a goal at tick 2050 (0 rad) is 32.6 ticks: 33 when rounded, 32 within the step
    step = ([-0.05], [0.05])
    assert pan.to_ticks([0.05])[0] - 2050 == 33 and 33 * tick > 0.05
    assert pan.to_ticks([0.05], [limits, step])[0] - 2050 == 32 and 32 * tick <= 0.05
    # a window that ends on a tick's own angle keeps that tick (float noise does not push it out)
    for t in (791, 2049, 3309):
        angle = pan.to_radians([t])
        assert pan.to_ticks(angle, [(angle, angle)])[0] == t
    # a joint outside its limits (at tick 3340) walked back in: the step window wins over the limits ...
    last = pan.to_radians([3340])
    reach = (last - 0.05, last + 0.05)
    assert pan.to_ticks(last - 0.05, [limits, reach])[0] == 3308  # 32 ticks in, not 33
    # ... until the limits are within a step: then the last tick inside them, not the nearest (3302)
    last = pan.to_radians([3308])
    assert pan.to_ticks([1.91986], [limits, (last - 0.05, last + 0.05)])[0] == 3301
    # inverted joint: the window's ends swap in tick space
    elbow = TickMapping.from_calibration({'elbow_flex': MotorCalibration(3, 1, 0, 1000, 3000)})
    assert elbow.to_ticks([0.3])[0] == 1804 and elbow.to_radians([1804])[0] > 0.3
    assert elbow.to_ticks([0.3], [([-0.3], [0.3])])[0] == 1805 and elbow.to_radians([1805])[0] <= 0.3
    assert elbow.to_ticks([-0.3], [([-0.3], [0.3])])[0] == 2195 and elbow.to_radians([2195])[0] >= -0.3


def test_missing_joint_is_named():
    with pytest.raises(KeyError, match="no entry for \\['elbow'\\]"):
        TickMapping.from_calibration(load_calibration(FIXTURE), ['wrist_roll', 'elbow'])
