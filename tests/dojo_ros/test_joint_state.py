"""dojo_ros.joint_state: name-matched conversion between JointState and vectors."""
from __future__ import annotations

import math

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import JointState

from dojo_ros.joint_state import (
    JointStateError,
    joint_state_to_vector,
    unknown_joints,
    vector_to_joint_state,
)

ARM = ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll', 'gripper']


def _state(names: list[str], position: list[float], **fields: list[float]) -> JointState:
    return JointState(name=names, position=position, **fields)


def test_matches_by_name_not_index() -> None:
    # Alphabetical order, as joint_state_broadcaster publishes it.
    names = sorted(ARM)
    msg = _state(names, [float(i) for i in range(len(names))])
    vector = joint_state_to_vector(msg, ARM)
    assert vector.dtype == np.float64
    assert vector.tolist() == [float(names.index(n)) for n in ARM]


def test_velocity_and_effort_fields() -> None:
    msg = _state(['b', 'a'], [1.0, 2.0], velocity=[0.1, 0.2], effort=[-3.0, 4.0])
    assert joint_state_to_vector(msg, ['a', 'b'], 'velocity').tolist() == [0.2, 0.1]
    assert joint_state_to_vector(msg, ['a', 'b'], field='effort').tolist() == [4.0, -3.0]


def test_extra_joints_are_ignored_and_reported_by_unknown_joints() -> None:
    msg = _state(['x', 'a', 'y', 'b'], [9.0, 1.0, 8.0, 2.0])
    assert joint_state_to_vector(msg, ['a', 'b']).tolist() == [1.0, 2.0]
    assert unknown_joints(msg, ['a', 'b']) == ['x', 'y']
    assert unknown_joints(msg, ['a', 'b', 'x', 'y']) == []


def test_subset_of_names() -> None:
    msg = _state(ARM, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert joint_state_to_vector(msg, ['gripper', 'shoulder_pan']).tolist() == [0.6, 0.1]


def test_missing_joint_is_an_error_naming_it() -> None:
    msg = _state(['a'], [1.0])
    with pytest.raises(JointStateError, match="no position for joint 'b'"):
        joint_state_to_vector(msg, ['a', 'b'])


def test_missing_joint_reads_nan_when_allowed() -> None:
    msg = _state(['a'], [1.0])
    vector = joint_state_to_vector(msg, ['b', 'a'], allow_missing=True)
    assert math.isnan(vector[0])
    assert vector[1] == 1.0


def test_field_length_must_match_names() -> None:
    msg = _state(['a', 'b'], [1.0, 2.0], velocity=[0.5])
    with pytest.raises(JointStateError, match='2 names but 1 velocity values'):
        joint_state_to_vector(msg, ['a'], 'velocity')
    # An empty field (allowed by the message) is reported the same way when it is asked for.
    with pytest.raises(JointStateError, match='2 names but 0 effort values'):
        joint_state_to_vector(msg, ['a'], 'effort')


def test_duplicate_names_in_message() -> None:
    msg = _state(['a', 'b', 'a'], [1.0, 2.0, 3.0])
    with pytest.raises(JointStateError, match=r"more than once: \['a'\]"):
        joint_state_to_vector(msg, ['b'])


@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf])
def test_non_finite_value_is_an_error_naming_the_joint(bad: float) -> None:
    msg = _state(['a', 'b'], [1.0, 2.0], velocity=[0.0, bad])
    with pytest.raises(JointStateError, match=f"velocity of joint 'b' is {bad}"):
        joint_state_to_vector(msg, ['a', 'b'], 'velocity')


def test_non_finite_value_of_an_ignored_joint_is_not_an_error() -> None:
    msg = _state(['a', 'b'], [1.0, math.nan])
    assert joint_state_to_vector(msg, ['a']).tolist() == [1.0]


def test_unknown_field() -> None:
    with pytest.raises(JointStateError, match="got 'positions'"):
        joint_state_to_vector(_state(['a'], [1.0]), ['a'], 'positions')


def test_joint_state_error_is_a_value_error() -> None:
    assert issubclass(JointStateError, ValueError)


@pytest.mark.parametrize('msg, names, field, reason', [
    (_state(['a'], [1.0]), ['a'], 'positions', 'bad_field'),
    (_state(['a', 'b'], [1.0]), ['a'], 'position', 'length_mismatch'),
    (_state(['a', 'a'], [1.0, 2.0]), ['a'], 'position', 'duplicate_joint'),
    (_state(['a'], [1.0]), ['b'], 'position', 'missing_joint'),
    (_state(['a'], [math.nan]), ['a'], 'position', 'non_finite'),
])
def test_error_reason_is_a_stable_key_for_counting(msg, names, field, reason) -> None:
    with pytest.raises(JointStateError) as info:
        joint_state_to_vector(msg, names, field)
    assert info.value.reason == reason


def test_vector_to_joint_state_round_trip() -> None:
    position = np.array([0.1, -0.2, 0.3, 0.0, 1.5, 0.7])
    msg = vector_to_joint_state(
        ARM, position, velocity=[0.0] * 6, stamp=Time(sec=3, nanosec=7), frame_id='base_link'
    )
    assert list(msg.name) == ARM
    assert list(msg.position) == position.tolist()
    assert list(msg.velocity) == [0.0] * 6
    assert list(msg.effort) == []
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 7)
    assert msg.header.frame_id == 'base_link'
    np.testing.assert_array_equal(joint_state_to_vector(msg, ARM), position)
    np.testing.assert_array_equal(joint_state_to_vector(msg, ARM, 'velocity'), np.zeros(6))


def test_vector_to_joint_state_accepts_integer_values() -> None:
    msg = vector_to_joint_state(['a', 'b'], effort=[1, 2])
    assert list(msg.effort) == [1.0, 2.0]
    assert all(isinstance(v, float) for v in msg.effort)


@pytest.mark.parametrize('field', ['position', 'velocity', 'effort'])
def test_vector_to_joint_state_checks_lengths(field: str) -> None:
    with pytest.raises(ValueError, match=rf'{field} must have shape \(2,\).*got \(3,\)'):
        vector_to_joint_state(['a', 'b'], **{field: [1.0, 2.0, 3.0]})


def test_vector_to_joint_state_rejects_two_dimensional_values() -> None:
    with pytest.raises(ValueError, match=r'got \(1, 2\)'):
        vector_to_joint_state(['a', 'b'], [[1.0, 2.0]])


def test_vector_to_joint_state_rejects_duplicate_names() -> None:
    with pytest.raises(ValueError, match='unique'):
        vector_to_joint_state(['a', 'a'], [1.0, 2.0])
