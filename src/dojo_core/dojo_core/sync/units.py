"""Joint units of a dataset: ROS speaks radians, LeRobot's SO-101 datasets speak degrees and 0..100.

dojo records radians (REP-103) unless a feature map says otherwise; the conversion is one affine
map per joint (value = radians * scale + offset), so that the recorder and the converter write the
same numbers and the policy node can turn a dataset-unit action back into radians exactly.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

ANGLE_UNITS = ('radians', 'degrees')


@dataclass(frozen=True)
class JointUnits:
    """Per-joint conversion between radians (ROS) and the dataset's units.

    `angles` applies to every joint; a joint listed in `percent` is stored instead as 0..100 over
    its [lower, upper] range in radians (LeRobot's gripper convention: 0 at `lower`, 100 at
    `upper`; values outside the range stay outside 0..100, nothing is clipped). With `offsets`
    False (velocities) only the scale applies: a rate has no zero point to shift.
    """

    joints: tuple[str, ...]
    angles: str = 'radians'
    percent: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    offsets: bool = True

    def __post_init__(self) -> None:
        if self.angles not in ANGLE_UNITS:
            raise ValueError(f'units must be one of {ANGLE_UNITS}, got {self.angles!r}')
        for joint, bounds in self.percent.items():
            if joint not in self.joints:
                raise ValueError(f'percent names joint {joint!r}, which is not one of the joints {list(self.joints)}')
            if (len(bounds) != 2 or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in bounds)
                    or not bounds[0] < bounds[1]):
                raise ValueError(f'percent range of {joint!r} must be [lower, upper] in radians with lower < upper, '
                                 f'got {list(bounds)}')
        scale = np.full(len(self.joints), 180.0 / math.pi if self.angles == 'degrees' else 1.0)
        offset = np.zeros(len(self.joints))
        for k, joint in enumerate(self.joints):
            if joint in self.percent:
                lower, upper = self.percent[joint]
                scale[k] = 100.0 / (upper - lower)
                offset[k] = -lower * scale[k] if self.offsets else 0.0
        object.__setattr__(self, '_scale', scale)
        object.__setattr__(self, '_offset', offset)

    def to_dataset(self, radians: Sequence[float] | np.ndarray) -> np.ndarray:
        """Radians (or rad/s) in `joints` order -> dataset units, float64."""
        return np.asarray(radians, dtype=np.float64) * self._scale + self._offset

    def to_ros(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Dataset units -> radians (or rad/s), float64: what a policy's action becomes on the wire."""
        return (np.asarray(values, dtype=np.float64) - self._offset) / self._scale
