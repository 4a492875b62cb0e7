"""sensor_msgs/JointState -> numpy vectors in a fixed joint order, for rclpy or rosbags messages.

JointState arrays are ordered however the publisher likes (joint_state_broadcaster sorts
alphabetically, drivers use their own order), so dojo always matches joints by name, never by index,
and turns a message into a vector in the order the consumer asked for. Only attribute access is
used (`name`, `position`, `velocity`, `effort`), so a live rclpy message and a rosbags dataclass
read from a bag go through the same code.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from dojo_core.sync.errors import ExtractionError

JOINT_STATE_FIELDS = ('position', 'velocity', 'effort')


class JointStateError(ExtractionError):
    """A JointState message that cannot be read as the requested vector.

    `reason` is one of bad_field, length_mismatch, duplicate_joint, missing_joint, non_finite; the
    message says which joint and field.
    """


def joint_state_to_vector(
    msg: Any,
    names: Sequence[str],
    field: str = 'position',
    *,
    allow_missing: bool = False,
) -> np.ndarray:
    """Return ``msg.<field>`` as a float64 vector ordered like ``names``.

    Joints of the message that are not in ``names`` are ignored (a gripper driver may publish the
    arm too); use :func:`unknown_joints` where extra names must be rejected. A joint of ``names``
    absent from the message is an error unless ``allow_missing``, in which case it reads as NaN.
    Values taken from the message must be finite: NaN or inf from a driver is a fault, not data.
    """
    if field not in JOINT_STATE_FIELDS:
        raise JointStateError(f'field must be one of {JOINT_STATE_FIELDS}, got {field!r}', 'bad_field')
    values = getattr(msg, field)
    if len(values) != len(msg.name):
        raise JointStateError(
            f'JointState has {len(msg.name)} names but {len(values)} {field} values', 'length_mismatch'
        )
    duplicates = sorted(name for name, count in Counter(msg.name).items() if count > 1)
    if duplicates:
        raise JointStateError(f'JointState names joints more than once: {duplicates}', 'duplicate_joint')

    index = {name: i for i, name in enumerate(msg.name)}
    vector = np.full(len(names), np.nan)
    for k, name in enumerate(names):
        i = index.get(name)
        if i is None:
            if not allow_missing:
                raise JointStateError(f'JointState has no {field} for joint {name!r}', 'missing_joint')
            continue
        value = float(values[i])
        if not np.isfinite(value):
            raise JointStateError(f'JointState {field} of joint {name!r} is {value}', 'non_finite')
        vector[k] = value
    return vector


def unknown_joints(msg: Any, names: Sequence[str]) -> list[str]:
    """Return the joints named in ``msg`` that are not in ``names``, in message order.

    A command node uses this to reject a command for joints it does not drive instead of silently
    dropping part of it.
    """
    known = set(names)
    return [name for name in msg.name if name not in known]
