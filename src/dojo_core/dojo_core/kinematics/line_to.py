"""Straight-line tool moves to a goal configuration: the tool turns on the way as the joints do.

`cartesian.straight_line` pursues the goal's orientation at every knot, seeded with the previous
knot, which suits moves whose orientation is already right (a descent, a lift): a goal rotation far
from the start rotation is taken at the first knot, as a jump that the line refuses. For a move
that must also turn the tool, solve the goal configuration first (full pose, orientation soft),
then `straight_line_to` it: every knot is a position-only solve on the line, seeded with the point
at the same fraction of the joint-space segment from start to goal. Damped least squares stays
near its seed, so the arm's spare freedom (wrist pitch and roll) follows that smooth interpolation
and the knots vary smoothly (no orientation compromise re-solved at every knot), and the last knot
is the goal configuration itself.
"""
from __future__ import annotations

import math

import numpy as np

from dojo_core.kinematics.cartesian import KNOT_SPACING, MAX_KNOT_JUMP, LineLimits, PlanningError
from dojo_core.kinematics.ik import IKSolver, IKTarget
from dojo_core.kinematics.model import TOOL_FRAME
from dojo_core.kinematics.trajectory import Segment, min_jerk_duration


def straight_line_to(ik: IKSolver, q_start: np.ndarray, q_goal: np.ndarray, limits: LineLimits, label: str = '',
                     frame: str = TOOL_FRAME) -> Segment:
    """A segment moving `frame` along the straight line from its position at `q_start` to its
    position at `q_goal`, ending at `q_goal`; raises PlanningError when a knot has no solution or
    jumps to another arm configuration (as `straight_line` does)."""
    q_start, q_goal = np.asarray(q_start, dtype=float), np.asarray(q_goal, dtype=float)
    start, _ = ik.model.fk(q_start, frame)
    end, _ = ik.model.fk(q_goal, frame)
    length = float(np.linalg.norm(end - start))
    count = max(2, math.ceil(length / KNOT_SPACING) + 1)
    knots = [q_start]
    for s in np.linspace(0.0, 1.0, count)[1:]:
        result = ik.solve(IKTarget(start + s * (end - start), frame=frame), (1.0 - s) * q_start + s * q_goal)
        if not result.success:
            raise PlanningError(f'{label or "line"}: no IK solution {s * length:.3f} m along the line: {result.reason}')
        jump = float(np.abs(result.q - knots[-1]).max())
        if jump > MAX_KNOT_JUMP:
            raise PlanningError(f'{label or "line"}: the IK solution jumps by {jump:.2f} rad '
                                f'{s * length:.3f} m along the line (another arm configuration)')
        knots.append(result.q)
    return Segment.within_limits(np.array(knots), limits.joint_velocity, limits.joint_acceleration, label,
                                 min_duration=min_jerk_duration(length, limits.speed, limits.acceleration))
