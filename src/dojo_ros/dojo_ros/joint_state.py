"""sensor_msgs/JointState <-> numpy vectors in a fixed joint order.

JointState arrays are ordered however the publisher likes (joint_state_broadcaster sorts
alphabetically, drivers use their own order), so dojo always matches joints by name, never by index.
Reading a message (`joint_state_to_vector`, `unknown_joints`) is ROS-free and lives in
dojo_core.sync.joint_state, where the bag converter uses it on rosbags messages too; this module
adds the direction that builds an rclpy message.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import JointState

from dojo_core.sync.joint_state import (
    JOINT_STATE_FIELDS,
    JointStateError,
    joint_state_to_vector,
    unknown_joints,
)

__all__ = ['JointStateError', 'joint_state_to_vector', 'unknown_joints', 'vector_to_joint_state']


def vector_to_joint_state(
    names: Sequence[str],
    position: Sequence[float] | np.ndarray | None = None,
    velocity: Sequence[float] | np.ndarray | None = None,
    effort: Sequence[float] | np.ndarray | None = None,
    *,
    stamp: Time | None = None,
    frame_id: str = '',
) -> JointState:
    """Build a JointState for ``names``; fields left as None stay empty, as the message allows."""
    if len(set(names)) != len(names):
        raise ValueError(f'joint names must be unique, got {list(names)}')
    msg = JointState()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.name = list(names)
    for field, values in zip(JOINT_STATE_FIELDS, (position, velocity, effort)):
        if values is None:
            continue
        vector = np.asarray(values, dtype=np.float64)
        if vector.shape != (len(names),):
            raise ValueError(
                f'{field} must have shape ({len(names)},) to match the joint names, '
                f'got {vector.shape}'
            )
        setattr(msg, field, vector.tolist())
    return msg
