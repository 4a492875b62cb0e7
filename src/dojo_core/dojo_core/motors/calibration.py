"""Joint calibration: LeRobot's calibration JSON, and the mapping between servo ticks and radians.

A lab that already calibrated its arm with LeRobot keeps that calibration: the file format is
LeRobot's, one entry per motor name,

    {"shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1470, "range_min": 758, "range_max": 3292}, ...}

and the fields mean what they mean in LeRobot:

* `homing_offset` is written to the servo's Homing_Offset register, so that the servo itself
  reports a Present_Position centred on the pose the arm had during homing (half a turn, 2047,
  at that pose). Feetech: Present_Position = encoder - Homing_Offset; Dynamixel:
  Present_Position = encoder + Homing_Offset (each bus computes its sign, see
  `MotorBus.homing_offset_for`).
* `range_min`/`range_max` are Present_Position ticks (after the homing offset) at the ends of the
  joint's travel, recorded by moving each joint by hand. They are also written to the servo's
  Min/Max_Position_Limit registers, so the servo refuses goals outside them on its own.
* `drive_mode` 1 means inverted: the joint angle grows when the ticks shrink. Feetech servos have
  no direction register, so the inversion is applied here; Dynamixel servos have one
  (Drive_Mode bit 0) and invert in the servo, so their bus maps with `apply_drive_mode=False`,
  exactly as LeRobot does.

The mapping to radians (`TickMapping`) is affine per joint, rad = scale * (ticks - zero):

* arm joints: zero = (range_min + range_max) / 2 and scale = ±2π / resolution (4096 ticks per
  turn for the STS3215 and the X-series), negative for drive_mode 1. The URDF zero of the SO-101
  "new calibration" description is the middle of each joint's range, which is what LeRobot's
  degree mode also reports ((ticks - mid) * 360 / 4095 degrees; dojo uses the true 4096 ticks per
  turn, a 0.024 % difference, at most 0.04 degrees at the ends of a half turn).
* joints with a fixed URDF range (the gripper, `ranged`): [range_min, range_max] maps linearly
  onto [lower, upper] (-0.174533 .. 1.74533 rad for the SO-101 jaw: range_min is the closed end,
  like LeRobot's gripper 0..100 scale, and drive_mode 1 swaps the ends). Commands inside the URDF
  limits then always land inside the recorded range.

`to_ticks` clips to [range_min, range_max]: a goal can never leave the calibrated travel. Given
angle windows (joint limits, the reach of a step), it rounds toward their inside, so the rounding
to whole ticks never carries a goal past them.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from dojo_core.robot.description import GRIPPER_JOINT

HALF_TURN = 2047  # where homing puts a joint: LeRobot's centre of a 4096-tick turn, (4096 - 1) // 2
GRIPPER_RANGE: tuple[float, float] = (-0.174533, 1.74533)  # URDF gripper limits, rad (0 = closed)
DEFAULT_RANGED: Mapping[str, tuple[float, float]] = {GRIPPER_JOINT: GRIPPER_RANGE}
FIELDS = ('id', 'drive_mode', 'homing_offset', 'range_min', 'range_max')
TICK_TOLERANCE = 1e-9  # ticks: how far an angle may sit outside a bound through float rounding alone
Window = tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]  # (lower, upper) rad per joint


@dataclass(frozen=True)
class MotorCalibration:
    """One motor's LeRobot calibration entry (all values in ticks, as stored on the servo)."""

    id: int
    drive_mode: int = 0
    homing_offset: int = 0
    range_min: int = 0
    range_max: int = 4095

    def __post_init__(self) -> None:
        if self.drive_mode not in (0, 1):
            raise ValueError(f'motor id {self.id}: drive_mode must be 0 or 1, got {self.drive_mode}')
        if not self.range_min < self.range_max:
            raise ValueError(f'motor id {self.id}: range_min {self.range_min} must be below range_max '
                             f'{self.range_max} (was the joint moved while recording?)')


Calibration = dict[str, MotorCalibration]


def calibration_from_json(data: Mapping[str, Mapping[str, int]], source: str = 'calibration') -> Calibration:
    """Parse LeRobot's calibration dict; a clear ValueError names the motor and field at fault."""
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f'{source}: expected a non-empty object of motor name -> calibration')
    calibration = {}
    for name, entry in data.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f'{source}: motor {name!r} must map to an object with {FIELDS}')
        missing = [f for f in FIELDS if f not in entry]
        if missing:
            raise ValueError(f'{source}: motor {name!r} lacks {missing}')
        bad = [f for f in FIELDS if isinstance(entry[f], bool) or not isinstance(entry[f], int)]
        if bad:
            raise ValueError(f'{source}: motor {name!r}: {bad} must be integers')
        calibration[name] = MotorCalibration(**{f: entry[f] for f in FIELDS})
    return calibration


def calibration_to_json(calibration: Mapping[str, MotorCalibration]) -> dict[str, dict[str, int]]:
    return {name: asdict(motor) for name, motor in calibration.items()}


def load_calibration(path: str | os.PathLike) -> Calibration:
    """Read a LeRobot calibration JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path}: not valid JSON: {exc}') from None
    return calibration_from_json(data, str(path))


def save_calibration(calibration: Mapping[str, MotorCalibration], path: str | os.PathLike) -> Path:
    """Write a LeRobot calibration JSON file (creating its directory), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(json.dumps(calibration_to_json(calibration), indent=4) + '\n', encoding='utf-8')
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class TickMapping:
    """Affine tick <-> radian maps for a set of joints: rad = scale * (ticks - zero).

    Arrays are in `names` order; `tick_min`/`tick_max` are the calibrated range, which
    `to_ticks` never leaves.
    """

    names: tuple[str, ...]
    scale: np.ndarray  # rad per tick; negative when the joint is inverted
    zero: np.ndarray  # ticks at 0 rad
    tick_min: np.ndarray
    tick_max: np.ndarray

    @classmethod
    def from_calibration(cls, calibration: Mapping[str, MotorCalibration], names: Sequence[str] | None = None, *,
                         resolution: int = 4096, apply_drive_mode: bool = True,
                         ranged: Mapping[str, tuple[float, float]] = DEFAULT_RANGED) -> 'TickMapping':
        names = tuple(calibration if names is None else names)
        missing = [n for n in names if n not in calibration]
        if missing:
            raise KeyError(f'calibration has no entry for {missing}; it has {sorted(calibration)}')
        scale, zero = [], []
        for name in names:
            motor = calibration[name]
            inverted = bool(motor.drive_mode) and apply_drive_mode
            if name in ranged:
                lower, upper = ranged[name]
                step = (upper - lower) / (motor.range_max - motor.range_min)
                step, anchor = (-step, motor.range_max) if inverted else (step, motor.range_min)
                scale.append(step)
                zero.append(anchor - lower / step)
            else:
                scale.append((-1.0 if inverted else 1.0) * 2 * math.pi / resolution)
                zero.append((motor.range_min + motor.range_max) / 2)
        return cls(names, np.array(scale), np.array(zero),
                   np.array([calibration[n].range_min for n in names]),
                   np.array([calibration[n].range_max for n in names]))

    def select(self, names: Sequence[str]) -> 'TickMapping':
        """The mapping of a subset of joints, in the given order."""
        index = [self.names.index(n) for n in names]
        return TickMapping(tuple(names), self.scale[index], self.zero[index], self.tick_min[index], self.tick_max[index])

    def to_radians(self, ticks: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.scale * (np.asarray(ticks, dtype=float) - self.zero)

    def to_ticks(self, radians: Sequence[float] | np.ndarray, within: Sequence[Window] = ()) -> np.ndarray:
        """Nearest ticks for joint angles, clipped to the calibrated range.

        `within`: (lower, upper) angle windows (rad, per joint), e.g. the joint limits, then the
        reach of one step from the last goal. The ticks are kept inside each in turn, a later window
        winning where two share no tick: a goal clamped to a limit would otherwise round up to half
        a tick (0.77 mrad on a 4096-tick turn) past it. A window must hold at least one tick.
        """
        ticks = np.rint(self.zero + np.asarray(radians, dtype=float) / self.scale)
        for lower, upper in within:
            ends = (self.zero + np.asarray(lower, dtype=float) / self.scale,
                    self.zero + np.asarray(upper, dtype=float) / self.scale)
            # the whole ticks inside, not counting float noise (an angle computed from a tick is that tick)
            ticks = np.clip(ticks, np.ceil(np.minimum(*ends) - TICK_TOLERANCE),
                            np.floor(np.maximum(*ends) + TICK_TOLERANCE))
        return np.clip(ticks, self.tick_min, self.tick_max).astype(np.int64)

    def velocity_to_radians(self, ticks_per_second: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(ticks_per_second, dtype=float)

    @property
    def lower(self) -> np.ndarray:
        """Joint angle (rad) at the low end of each calibrated range."""
        return np.minimum(self.to_radians(self.tick_min), self.to_radians(self.tick_max))

    @property
    def upper(self) -> np.ndarray:
        return np.maximum(self.to_radians(self.tick_min), self.to_radians(self.tick_max))
