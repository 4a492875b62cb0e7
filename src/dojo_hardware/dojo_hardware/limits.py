"""Joint limits for anything that commands a real arm: the URDF limits, narrowed by the calibration.

The URDF is the single source of kinematics, so its limits bound every commanded position; the
calibrated range of a servo (its recorded travel) can be narrower, and a goal outside it would be
clipped by the bus anyway, so the driver clamps to the intersection and counts what it clamped.
Goals go to the servos in whole ticks, rounded toward the inside of the limits and of the step, so
that rounding never adds the half tick that would cross either (`TickMapping.to_ticks` windows).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from dojo_core.motors import TickMapping
from dojo_core.robot.description import JointLimits, expand_xacro, joint_limits
from dojo_ros.diagnostics import EventCounter


def urdf_limits(joint_names: Sequence[str], urdf_file: str = '') -> JointLimits:
    """Limits of `joint_names` from a URDF/xacro file (empty: the installed SO-101 description).

    Raises ValueError naming the joints the description lacks.
    """
    try:
        return joint_limits(expand_xacro(urdf_file or None), tuple(joint_names))
    except KeyError as exc:
        raise ValueError(f'{urdf_file or "so101.urdf.xacro"}: {exc.args[0]}') from None


def within_calibration(limits: JointLimits, mapping: TickMapping) -> JointLimits:
    """`limits` narrowed to the calibrated range of each joint (same joint order)."""
    if tuple(mapping.names) != tuple(limits.names):
        raise ValueError(f'calibration joints {mapping.names} differ from {limits.names}')
    lower, upper = np.maximum(limits.lower, mapping.lower), np.minimum(limits.upper, mapping.upper)
    disjoint = [name for name, lo, hi in zip(limits.names, lower, upper) if lo > hi]
    if disjoint:
        raise ValueError(f'the calibrated range of {disjoint} lies outside the URDF limits: wrong calibration?')
    return dataclasses.replace(limits, lower=lower, upper=upper)


def check_step(max_step: float, mapping: TickMapping) -> None:
    """ValueError when `max_step` (rad) is smaller than one tick of a joint: goals rounded to whole
    ticks that never exceed the step could then never move it."""
    tick = np.abs(mapping.scale)
    small = [name for name, size in zip(mapping.names, tick) if max_step < size]
    if small:
        raise ValueError(f'max_step_rad {max_step:g} is below one servo tick of {small} '
                         f'({tick.max():.3g} rad): those joints could never move')


def clamp_counted(positions: np.ndarray, limits: JointLimits, counter: EventCounter) -> np.ndarray:
    """`positions` clamped to `limits`; every clamped joint is counted under its name (NaN passes through)."""
    clamped = limits.clamp(positions)
    for name in np.asarray(limits.names)[np.abs(clamped - positions) > 0]:
        counter.increment(str(name))
    return clamped
