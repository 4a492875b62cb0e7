"""Straight-line tool motion: IK along a Cartesian line, timed within Cartesian and joint limits.

The line is cut into knots a few millimetres apart and each knot is solved with the previous
knot's answer as warm start, so the arm follows one continuous IK branch; a knot that does not
solve, or that jumps to another branch, makes the whole line fail with a reason instead of a
motion that leaves the line.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from dojo_core.kinematics.ik import IKSolver, IKTarget
from dojo_core.kinematics.trajectory import Segment, min_jerk_duration


class PlanningError(RuntimeError):
    """A motion could not be planned; the message says which step and why."""


@dataclasses.dataclass
class LineLimits:
    """Speed limits of a straight-line move: the tool (m/s, m/s^2) and each joint (rad/s, rad/s^2)."""

    speed: float
    acceleration: float
    joint_velocity: np.ndarray | float
    joint_acceleration: np.ndarray | float


# Distance between IK knots along a line (m), and the largest joint change allowed between two
# knots before the solution counts as having jumped to another IK branch (rad).
KNOT_SPACING = 0.004
MAX_KNOT_JUMP = 0.35


def straight_line(ik: IKSolver, q_start: np.ndarray, goal: IKTarget, limits: LineLimits,
                  label: str = '') -> Segment:
    """A segment moving the tool frame from where it is at `q_start` to `goal.position` along a
    straight line, turning towards `goal`'s orientation goals on the way; raises PlanningError."""
    q_start = np.asarray(q_start, dtype=float)
    start, _ = ik.model.fk(q_start, goal.frame)
    end = np.asarray(goal.position, dtype=float)
    length = float(np.linalg.norm(end - start))
    count = max(2, math.ceil(length / KNOT_SPACING) + 1)
    knots = [q_start]
    for s in np.linspace(0.0, 1.0, count)[1:]:
        result = ik.solve(dataclasses.replace(goal, position=start + s * (end - start)), knots[-1])
        if not result.success:
            raise PlanningError(f'{label or "line"}: no IK solution {s * length:.3f} m along the line: {result.reason}')
        jump = float(np.abs(result.q - knots[-1]).max())
        if jump > MAX_KNOT_JUMP:
            raise PlanningError(f'{label or "line"}: the IK solution jumps by {jump:.2f} rad '
                                f'{s * length:.3f} m along the line (another arm configuration)')
        knots.append(result.q)
    return Segment.within_limits(np.array(knots), limits.joint_velocity, limits.joint_acceleration, label,
                                 min_duration=min_jerk_duration(length, limits.speed, limits.acceleration))
