"""FeatureSpec: one LeRobot feature, where it comes from, and how a message becomes its value.

Messages are read by attribute only (duck typing): rclpy messages and the dataclasses `rosbags`
deserialises have the same field names, and dojo_core must not import ROS. Every value comes out
with exactly the dtype and shape the feature announces to the dataset writer, or not at all: a
message the dataset must not hold raises an ExtractionError with a countable `reason`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from dojo_core.sync.errors import ExtractionError, FeatureMapError
from dojo_core.sync.image import RGB_ENCODINGS, ImageConversionError, image_to_rgb
from dojo_core.sync.joint_state import JOINT_STATE_FIELDS, joint_state_to_vector
from dojo_core.sync.units import ANGLE_UNITS, JointUnits

JOINT_STATE = 'sensor_msgs/msg/JointState'
IMAGE = 'sensor_msgs/msg/Image'
STRING = 'std_msgs/msg/String'
FLOAT64 = 'std_msgs/msg/Float64'
BOOL = 'std_msgs/msg/Bool'
POSE_STAMPED = 'geometry_msgs/msg/PoseStamped'
#: Message types a feature can be read from.
MESSAGE_TYPES = (JOINT_STATE, IMAGE, STRING, FLOAT64, BOOL, POSE_STAMPED)
#: Types without a std_msgs/Header: they can only be placed on the receive timeline.
HEADERLESS_TYPES = (STRING, FLOAT64, BOOL)

TIMELINES = ('header', 'receive')
IMAGE_DTYPES = ('video', 'image')
#: Columns every LeRobot dataset has; a feature may not take their names.
RESERVED_NAMES = ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index')
#: LeRobot name suffix per JointState field: `<joint>.pos` is LeRobot's own convention.
JOINT_SUFFIX = {'position': 'pos', 'velocity': 'vel', 'effort': 'effort'}
POSE_NAMES = ('x', 'y', 'z', 'qx', 'qy', 'qz', 'qw')

DEFAULT_MAX_AGE = 0.1

#: The settings each message type takes besides topic, type, required, max_age and timeline.
TYPE_SETTINGS: dict[str, tuple[str, ...]] = {
    JOINT_STATE: ('joints', 'field', 'units', 'percent'),
    IMAGE: ('width', 'height', 'encoding', 'dtype'),
    POSE_STAMPED: ('frame_id',),
    STRING: (), FLOAT64: (), BOOL: (),
}


def is_int(value: object) -> bool:
    """An int from YAML or code, not a bool (YAML `true` is an int subclass in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """One LeRobot feature: where it comes from, how it is checked and converted.

    Construct through :class:`FeatureMap` (from YAML) or directly; every field is validated here,
    so a spec that exists is usable. `dtype` is derived unless given (only images choose:
    video | image).
    """

    name: str
    topic: str
    type: str
    required: bool = True
    max_age: float = DEFAULT_MAX_AGE
    timeline: str = 'header'
    # sensor_msgs/msg/JointState
    joints: tuple[str, ...] = ()
    field: str = 'position'
    units: str = 'radians'
    percent: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    # sensor_msgs/msg/Image
    width: int = 0
    height: int = 0
    encoding: str | None = None
    # geometry_msgs/msg/PoseStamped
    frame_id: str | None = None
    dtype: str = ''

    def __post_init__(self) -> None:
        def fail(problem: str) -> None:
            raise FeatureMapError(f'feature {self.name!r}: {problem}')

        if not isinstance(self.name, str) or not self.name:
            raise FeatureMapError(f'feature names must be non-empty strings, got {self.name!r}')
        if '/' in self.name:
            fail("LeRobot feature names must not contain '/' (use '.', e.g. observation.images.front)")
        if self.name in RESERVED_NAMES:
            fail(f'the name is reserved for a LeRobot column ({", ".join(RESERVED_NAMES)})')
        if not isinstance(self.topic, str) or not self.topic:
            fail(f'topic must be a non-empty string, got {self.topic!r}')
        if self.type not in MESSAGE_TYPES:
            fail(f'type must be one of {", ".join(MESSAGE_TYPES)}, got {self.type!r}')
        if not isinstance(self.required, bool):
            fail(f'required must be true or false, got {self.required!r}')
        if not is_number(self.max_age) or not self.max_age > 0:
            fail(f'max_age must be a positive number of seconds (.inf to never go stale), got {self.max_age!r}')
        if self.timeline not in TIMELINES:
            fail(f'timeline must be one of {TIMELINES}, got {self.timeline!r}')
        if self.timeline == 'header' and self.type in HEADERLESS_TYPES:
            fail(f'{self.type} has no header stamp; set timeline: receive for this feature')
        if self.type == JOINT_STATE:
            self._check_joint_state(fail)
        if self.type == IMAGE:
            if not (is_int(self.width) and self.width > 0 and is_int(self.height) and self.height > 0):
                fail(f'images need positive integer width and height, got {self.width!r}x{self.height!r}')
            if self.encoding is not None and self.encoding not in RGB_ENCODINGS:
                fail(f'encoding must be one of {RGB_ENCODINGS} (or left out to accept any), got {self.encoding!r}')
            if self.dtype not in ('', *IMAGE_DTYPES):
                fail(f'dtype of an image must be one of {IMAGE_DTYPES}, got {self.dtype!r}')
        elif self.dtype not in ('', self._derived_dtype()):
            fail(f'dtype of a {self.type} feature is {self._derived_dtype()}, got {self.dtype!r}')
        if self.frame_id is not None and not isinstance(self.frame_id, str):
            fail(f'frame_id must be a string, got {self.frame_id!r}')
        object.__setattr__(self, 'dtype', self.dtype or self._derived_dtype())

    def _check_joint_state(self, fail) -> None:
        if (not isinstance(self.joints, tuple) or not self.joints
                or not all(isinstance(j, str) and j for j in self.joints)):
            fail(f'joints must be a non-empty list of joint names, got {self.joints!r}')
        if len(set(self.joints)) != len(self.joints):
            fail(f'joints must be unique, got {list(self.joints)}')
        if self.field not in JOINT_STATE_FIELDS:
            fail(f'field must be one of {JOINT_STATE_FIELDS}, got {self.field!r}')
        if self.units not in ANGLE_UNITS:
            fail(f'units must be one of {ANGLE_UNITS}, got {self.units!r}')
        if not isinstance(self.percent, Mapping):
            fail(f'percent must map joint names to [lower, upper] in radians, got {self.percent!r}')
        if self.field == 'effort' and (self.units != 'radians' or self.percent):
            fail('efforts are stored as published (N m); units and percent apply to position and velocity')
        try:
            self.joint_units  # noqa: B018 - builds and validates the conversion
        except ValueError as exc:
            fail(str(exc))

    def _derived_dtype(self) -> str:
        return {IMAGE: 'video', BOOL: 'bool', STRING: 'string'}.get(self.type, 'float32')

    # -- what the dataset writer needs ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        if self.type == JOINT_STATE:
            return (len(self.joints),)
        if self.type == IMAGE:
            return (self.height, self.width, 3)
        if self.type == POSE_STAMPED:
            return (len(POSE_NAMES),)
        return (1,)

    @property
    def names(self) -> list[str] | None:
        if self.type == JOINT_STATE:
            return [f'{joint}.{JOINT_SUFFIX[self.field]}' for joint in self.joints]
        if self.type == IMAGE:
            return ['height', 'width', 'channels']
        if self.type == POSE_STAMPED:
            return list(POSE_NAMES)
        return None

    def lerobot_feature(self) -> dict[str, Any]:
        """This feature's entry of info.json `features` (the writer adds video `info`)."""
        return {'dtype': self.dtype, 'shape': list(self.shape), 'names': self.names}

    @cached_property
    def joint_units(self) -> JointUnits:
        """Radians <-> dataset units for a JointState feature (policy actions go back via to_ros)."""
        if self.type != JOINT_STATE:
            raise TypeError(f'feature {self.name!r} is a {self.type}, not a JointState feature')
        return JointUnits(self.joints, self.units, dict(self.percent), offsets=self.field == 'position')

    # -- reading messages -------------------------------------------------------------------------
    def stamp_ns(self, msg: Any, receive_ns: int | None = None) -> int:
        """The time of ``msg`` on this feature's timeline, in integer nanoseconds.

        header: `header.stamp` (an all-zero stamp means the driver never stamped: rejected as
        zero_stamp); receive: ``receive_ns``, which the caller must give (node clock at the
        callback live, the bag's log time offline).
        """
        if self.timeline == 'receive':
            if receive_ns is None:
                raise ValueError(f'feature {self.name!r} is on the receive timeline: pass receive_ns')
            return int(receive_ns)
        try:
            stamp = msg.header.stamp
            ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
        except AttributeError as exc:
            raise ExtractionError(f'{self.name}: message has no field {exc.name!r} (not a {self.type})',
                                  'wrong_type') from None
        if ns == 0:
            raise ExtractionError(f'{self.name}: header.stamp is zero (unstamped message on the header timeline)',
                                  'zero_stamp')
        return ns

    def extract(self, msg: Any) -> np.ndarray:
        """The value of this feature in ``msg``, with exactly the dtype and shape `lerobot_feature` announces.

        Raises ExtractionError (or its JointStateError / ImageConversionError subclasses) with a
        `reason` for anything the dataset must not hold. The result is read-only: frames share it.
        """
        try:
            value = self._extract(msg)
        except ExtractionError as exc:
            raise type(exc)(f'{self.name}: {exc}', exc.reason) from None
        except AttributeError as exc:
            raise ExtractionError(f'{self.name}: message has no field {exc.name!r} (not a {self.type})',
                                  'wrong_type') from None
        value.flags.writeable = False
        return value

    def _extract(self, msg: Any) -> np.ndarray:
        if self.type == JOINT_STATE:
            radians = joint_state_to_vector(msg, self.joints, self.field)
            return self.joint_units.to_dataset(radians).astype(np.float32)
        if self.type == IMAGE:
            if self.encoding is not None and msg.encoding != self.encoding:
                raise ImageConversionError(f'encoding {msg.encoding!r}, expected {self.encoding!r}', 'wrong_encoding')
            if (msg.width, msg.height) != (self.width, self.height):
                raise ImageConversionError(f'image is {msg.width}x{msg.height}, expected {self.width}x{self.height}',
                                           'wrong_size')
            return image_to_rgb(msg)
        if self.type == POSE_STAMPED:
            if self.frame_id is not None and msg.header.frame_id != self.frame_id:
                raise ExtractionError(f'pose in frame {msg.header.frame_id!r}, expected {self.frame_id!r}',
                                      'wrong_frame')
            p, q = msg.pose.position, msg.pose.orientation
            return _finite(np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w], dtype=np.float64)).astype(np.float32)
        if self.type == FLOAT64:
            return _finite(np.array([msg.data], dtype=np.float64)).astype(np.float32)
        if self.type == BOOL:
            return np.array([bool(msg.data)])
        return np.array([str(msg.data)])  # STRING


def _finite(values: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise ExtractionError(f'non-finite value in {values.tolist()}', 'non_finite')
    return values


def task_text(msg: Any) -> str:
    """The task description carried by a std_msgs/String (the latched `task` topic).

    An empty or blank task is refused (reason empty_task): LeRobot indexes episodes by task text.
    """
    text = str(msg.data).strip()
    if not text:
        raise ExtractionError('task message is empty', 'empty_task')
    return text
