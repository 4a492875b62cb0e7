"""sensor_msgs/JointState <-> numpy vectors in a fixed joint order.

JointState arrays are ordered however the publisher likes (joint_state_broadcaster sorts
alphabetically, drivers use their own order), so dojo always matches joints by name, never by index,
and turns a message into a vector in the order the consumer asked for.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import JointState

_FIELDS = ('position', 'velocity', 'effort')


class JointStateError(ValueError):
    """A JointState message that cannot be read as the requested vector.

    `reason` is a short stable key (bad_field, length_mismatch, duplicate_joint, missing_joint,
    non_finite) that nodes count on /diagnostics; the message says which joint and field.
    """

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def joint_state_to_vector(
    msg: JointState,
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
    if field not in _FIELDS:
        raise JointStateError(f'field must be one of {_FIELDS}, got {field!r}', 'bad_field')
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


def unknown_joints(msg: JointState, names: Sequence[str]) -> list[str]:
    """Return the joints named in ``msg`` that are not in ``names``, in message order.

    A command node uses this to reject a command for joints it does not drive instead of silently
    dropping part of it.
    """
    known = set(names)
    return [name for name in msg.name if name not in known]


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
    for field, values in zip(_FIELDS, (position, velocity, effort)):
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
