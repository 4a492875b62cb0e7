"""Target poses into the base frame (dojo_ik.frames): static frames from parameters, refusals by reason."""
from __future__ import annotations

import math

import numpy as np
import pinocchio as pin
import pytest
from geometry_msgs.msg import PoseStamped

from dojo_ik.frames import TargetError, TargetFrames, parse_static_frames


def pose(frame: str, position, quaternion_wxyz=(1.0, 0.0, 0.0, 0.0)) -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = frame
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in position)
    o = msg.pose.orientation
    o.w, o.x, o.y, o.z = (float(v) for v in quaternion_wxyz)
    return msg


def test_static_frames_are_parsed_as_pose_in_the_base_frame():
    frames = parse_static_frames(['table 0.1 -0.2 0.03 0 0 1.5707963267948966', 'cam 0 0 0.5 3.14159 0 0'])
    translation, rotation = frames['table']
    np.testing.assert_allclose(translation, [0.1, -0.2, 0.03])
    np.testing.assert_allclose(rotation @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    assert set(frames) == {'table', 'cam'}


@pytest.mark.parametrize('entries, match', [
    (['table 0.1 0.2 0.3'], 'x y z roll pitch yaw'),
    (['table 0.1 0.2 0.3 0 0 zero'], 'x y z roll pitch yaw'),
    (['table 0.1 0.2 nan 0 0 0'], 'x y z roll pitch yaw'),
    (['table 0 0 0 0 0 0', 'table 1 0 0 0 0 0'], 'more than once'),
])
def test_malformed_static_frames_are_refused(entries, match):
    with pytest.raises(ValueError, match=match):
        parse_static_frames(entries)


def test_poses_are_transformed_from_a_static_frame():
    frames = TargetFrames('base_link', parse_static_frames([f'table 0.05 0 0.01 0 0 {math.pi / 2}']))
    yaw = pin.rpy.rpyToMatrix(0.0, 0.0, 0.3)
    w, x, y, z = pin.Quaternion(yaw).coeffs()[[3, 0, 1, 2]]
    position, rotation = frames.to_base(pose('table', [0.1, 0.02, 0.0], (w, x, y, z)))
    np.testing.assert_allclose(position, [0.05 - 0.02, 0.1, 0.01], atol=1e-12)
    np.testing.assert_allclose(rotation, pin.rpy.rpyToMatrix(0.0, 0.0, math.pi / 2 + 0.3), atol=1e-12)
    # The base frame, and an empty frame_id, pass through; quaternions are normalised.
    for frame in ('base_link', ''):
        position, rotation = frames.to_base(pose(frame, [0.2, 0.0, 0.1], (2.0, 0.0, 0.0, 0.0)))
        np.testing.assert_allclose(position, [0.2, 0.0, 0.1])
        np.testing.assert_allclose(rotation, np.eye(3), atol=1e-12)


@pytest.mark.parametrize('msg, reason', [
    (pose('base_link', [math.nan, 0.0, 0.1]), 'non_finite'),
    (pose('base_link', [0.2, 0.0, 0.1], (math.inf, 0.0, 0.0, 0.0)), 'non_finite'),
    (pose('base_link', [0.2, 0.0, 0.1], (0.0, 0.0, 0.0, 0.0)), 'bad_quaternion'),
    (pose('map', [0.2, 0.0, 0.1]), 'unknown_frame'),
])
def test_unusable_poses_are_refused_with_their_reason(msg, reason):
    with pytest.raises(TargetError) as error:
        TargetFrames('base_link', {}).to_base(msg)
    assert error.value.reason == reason
