"""Inverse kinematics of the SO-101 arm: Levenberg-Marquardt on position plus weighted orientation.

The arm has five joints, so a full 6-D pose is in general out of reach: position decides success,
and orientation goals (a full rotation and/or "point this axis of the tool along that direction",
e.g. the approach axis straight down for a top-down grasp) are soft, weighted goals. Each attempt
minimises |position error|^2 + (orientation_weight * orientation error)^2, keeping a step only when
it lowers that cost. Where the orientation cannot be had at that point, the minimum is a
compromise a little off the point, so the attempt ends with position-only iterations from there
(small joint motion, so the orientation is nearly kept). Joint limits hold at every iteration
(joints at a limit that the step pushes outward are frozen for that step, then the step is
clipped), and when the warm start does not reach the point, the solver restarts from random
configurations within the limits. The answer is never silently wrong: `IKResult.success` is
False, with a reason, whenever the position tolerance is not met, and `q` is within the limits
either way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pinocchio as pin

from dojo_core.kinematics.model import TOOL_FRAME, RobotModel
from dojo_core.robot.description import ARM_JOINTS, JOINT_NAMES

_TINY = 1e-12


@dataclass(frozen=True)
class AxisGoal:
    """Point `axis` (a unit vector in the tool frame) along `direction` (a vector in base_link)."""

    axis: tuple[float, float, float]
    direction: tuple[float, float, float]
    weight: float = 1.0


@dataclass(frozen=True)
class IKTarget:
    """Where the tool frame should go: a position (m, base_link), optionally a rotation matrix
    and/or axis goals. With neither, the solve is position-only."""

    position: np.ndarray
    rotation: np.ndarray | None = None
    axes: tuple[AxisGoal, ...] = ()
    frame: str = TOOL_FRAME


@dataclass
class IKConfig:
    """Tolerances, weights and iteration budget of the solver."""

    position_tolerance: float = field(default=1e-3, metadata={
        'description': 'Largest tool position error (m) that counts as success.', 'range': (1e-6, 0.05)})
    orientation_tolerance: float = field(default=math.pi, metadata={
        'description': 'Largest orientation error (rad, worst goal) that counts as success; pi, the largest '
                       'possible error, keeps orientation a soft goal that never decides success.',
        'range': (0.0, math.pi)})
    orientation_weight: float = field(default=0.1, metadata={
        'description': 'Metres of position error that one radian of orientation error weighs as, while '
                       'orientation is pursued (multiplies each AxisGoal.weight).', 'range': (0.0, 10.0)})
    damping: float = field(default=1e-4, metadata={
        'description': 'Initial Levenberg-Marquardt damping (m^2); adapted every iteration.',
        'range': (1e-12, 1.0)})
    max_step: float = field(default=0.3, metadata={
        'description': 'Largest change of any joint in one iteration (rad).', 'range': (1e-3, 3.0)})
    max_iterations: int = field(default=100, metadata={
        'description': 'Iterations per attempt.', 'range': (1, 10000)})
    restarts: int = field(default=20, metadata={
        'description': 'Attempts from random configurations after the warm start fails.', 'range': (0, 1000)})
    seed: int = field(default=0, metadata={
        'description': 'Seed of the random restarts (every solve draws the same sequence: reproducible).'})


@dataclass
class IKResult:
    """What a solve found. Command `q` only when `success`; it is within the joint limits either way."""

    success: bool
    q: np.ndarray
    position_error: float
    orientation_error: float
    iterations: int
    reason: str


@dataclass
class _Attempt:
    q: np.ndarray
    position_error: float
    orientation_error: float
    cost: float
    iterations: int


class IKSolver:
    """Solves for the arm joints (`ARM_JOINTS`); other joints (the gripper) keep their seed values.

    Each attempt runs Levenberg-Marquardt on position error plus weighted orientation error (a
    step is taken only when it lowers that cost, so the iteration cannot oscillate), then, if the
    orientation compromise left the position outside tolerance, polishes position alone with
    minimal joint motion.
    """

    def __init__(self, model: RobotModel, config: IKConfig | None = None):
        self.model = model
        self.config = config or IKConfig()
        self.active = np.array([JOINT_NAMES.index(n) for n in ARM_JOINTS])
        self.lower = model.limits.lower[self.active]
        self.upper = model.limits.upper[self.active]

    def solve(self, target: IKTarget, q_seed: np.ndarray) -> IKResult:
        """Solve from `q_seed` (full joint vector, the warm start), then from random restarts."""
        cfg = self.config
        seed = np.asarray(q_seed, dtype=float)
        if seed.shape != (self.model.dof,) or not np.all(np.isfinite(seed)):
            raise ValueError(f'q_seed must be {self.model.dof} finite joint positions, got {q_seed!r}')
        seed = self.model.limits.clamp(seed)
        problem = _target_problem(target)
        if problem:
            return IKResult(False, seed, math.inf, math.inf, 0, problem)
        rng = None
        best: _Attempt | None = None
        iterations = 0
        for attempt in range(cfg.restarts + 1):
            start = seed.copy()
            if attempt:
                if rng is None:
                    rng = np.random.default_rng(cfg.seed)
                start[self.active] = rng.uniform(self.lower, self.upper)
            result = self._attempt(target, start)
            iterations += result.iterations
            if best is None or self._rank(result) < self._rank(best):
                best = result
            if self._succeeded(best):
                break
        success = self._succeeded(best)
        if success:
            reason = 'converged' if attempt == 0 else f'converged after {attempt} random restarts'
        elif best.position_error > cfg.position_tolerance:
            reason = (f'position error {best.position_error:.4g} m > tolerance {cfg.position_tolerance:.4g} m '
                      f'after {attempt + 1} attempts: target out of reach or beyond the joint limits')
        else:
            reason = (f'orientation error {best.orientation_error:.4g} rad > tolerance '
                      f'{cfg.orientation_tolerance:.4g} rad after {attempt + 1} attempts')
        return IKResult(success, best.q, best.position_error, best.orientation_error, iterations, reason)

    def _succeeded(self, a: _Attempt) -> bool:
        return a.position_error <= self.config.position_tolerance \
            and a.orientation_error <= self.config.orientation_tolerance

    def _rank(self, a: _Attempt) -> tuple:
        """Successes first, then position within tolerance, then the lowest weighted cost."""
        return (not self._succeeded(a), a.position_error > self.config.position_tolerance,
                a.cost if a.position_error <= self.config.position_tolerance else a.position_error)

    def _attempt(self, target: IKTarget, q: np.ndarray) -> _Attempt:
        has_orientation = target.rotation is not None or bool(target.axes)
        budget = self.config.max_iterations
        q, used = self._levenberg_marquardt(target, q, self.config.orientation_weight, budget)
        if has_orientation and self._errors(target, q)[0] > self.config.position_tolerance:
            q, more = self._levenberg_marquardt(target, q, 0.0, budget - used)
            used += more
        position_error, orientation_error, cost = self._errors(target, q)
        return _Attempt(q, position_error, orientation_error, cost, used)

    def _errors(self, target: IKTarget, q: np.ndarray) -> tuple[float, float, float]:
        """Position error (m), worst orientation error (rad) and the weighted cost at q."""
        r, _, orientation_error = self._residual(target, q, self.config.orientation_weight)
        return float(np.linalg.norm(r[:3])), orientation_error, float(r @ r)

    def _residual(self, target: IKTarget, q: np.ndarray, weight: float):
        """Stacked residual (position rows in m, then the orientation rows times `weight`), its
        Jacobian over the active joints, and the worst orientation error (rad)."""
        p, R, J = self.model.fk_and_jacobian(q, target.frame)
        ep = np.asarray(target.position, dtype=float) - p
        Jp = J[:3, self.active]
        eo, Jo, orientation_error = self._orientation_rows(target, R, J[3:, self.active], weight)
        if eo is None or weight == 0.0:
            return ep, Jp, orientation_error
        return np.concatenate([ep, eo]), np.vstack([Jp, Jo]), orientation_error

    def _levenberg_marquardt(self, target: IKTarget, q: np.ndarray, weight: float, budget: int):
        """Damped Gauss-Newton with adaptive damping; returns the final q and the iterations used."""
        cfg = self.config
        damping = cfg.damping
        # Good enough: a residual a hundredth of the position tolerance (10 um and 0.1 mrad by default).
        negligible = (1e-2 * cfg.position_tolerance) ** 2
        r, J, _ = self._residual(target, q, weight)
        cost = float(r @ r)
        for iteration in range(1, budget + 1):
            if cost <= negligible:
                return q, iteration - 1
            dq, damping = self._step(q[self.active], J, r, damping)
            candidate = q.copy()
            candidate[self.active] = np.clip(q[self.active] + dq, self.lower, self.upper)
            r_new, J_new, _ = self._residual(target, candidate, weight)
            cost_new = float(r_new @ r_new)
            if cost_new < cost:
                # Less than 0.1 % gained: the minimum is near (with orientation goals it is usually a
                # compromise with a non-zero cost, which Gauss-Newton approaches only slowly).
                stalled = cost - cost_new <= 1e-3 * cost
                q, r, J, cost = candidate, r_new, J_new, cost_new
                damping = max(damping / 3.0, 1e-9)
                if stalled:
                    return q, iteration
            else:
                damping *= 5.0
                if damping > 1e3:  # no step lowers the cost: a (local) minimum
                    return q, iteration
        return q, budget

    def _orientation_rows(self, target: IKTarget, R: np.ndarray, Jw: np.ndarray, weight: float):
        """Weighted residual rows, their Jacobian and the largest angle error (rad) of the orientation goals."""
        errors, jacobians, worst = [], [], 0.0
        if target.rotation is not None:
            e = pin.log3(np.asarray(target.rotation, dtype=float) @ R.T)
            errors.append(weight * e)
            jacobians.append(weight * Jw)
            worst = float(np.linalg.norm(e))
        for goal in target.axes:
            a = R @ np.asarray(goal.axis, dtype=float)
            e, angle = _rotation_onto(a, np.asarray(goal.direction, dtype=float))
            w = weight * goal.weight
            errors.append(w * e)
            # Spinning about `a` does not move it: only the angular velocity across `a` counts.
            jacobians.append(w * (Jw - np.outer(a, a @ Jw)))
            worst = max(worst, angle)
        if not errors:
            return None, None, 0.0
        return np.concatenate(errors), np.vstack(jacobians), worst

    def _step(self, q: np.ndarray, J: np.ndarray, r: np.ndarray, damping: float) -> tuple[np.ndarray, float]:
        """Damped least-squares step and the damping it needed: damped further until no joint moves
        more than `max_step` (a trust region; scaling a long step down instead would waste it on
        one poorly determined joint). Joints at a limit that the step pushes outward are frozen."""
        free = np.ones(len(q), dtype=bool)
        for _ in range(2):
            Jf = J * free
            # One eigendecomposition serves every damping tried: (J'J + d I)^-1 = V diag(1 / (w + d)) V'.
            w, V = np.linalg.eigh(Jf.T @ Jf)
            g = V.T @ (Jf.T @ r)
            dq = V @ (g / (w + damping))
            while np.abs(dq).max() > self.config.max_step:
                damping *= 4.0
                dq = V @ (g / (w + damping))
            blocked = free & (((q <= self.lower) & (dq < 0)) | ((q >= self.upper) & (dq > 0)))
            if not blocked.any():
                break
            free &= ~blocked
        return dq, damping

def _rotation_onto(a: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, float]:
    """The rotation vector turning unit vector `a` onto direction `d`, and its angle (rad)."""
    d = d / np.linalg.norm(d)
    cross = np.cross(a, d)
    s, c = float(np.linalg.norm(cross)), float(a @ d)
    angle = math.atan2(s, c)
    if s > _TINY:
        return cross * (angle / s), angle
    if c > 0:
        return np.zeros(3), 0.0
    # Opposite: any axis across `a` turns it round.
    other = np.eye(3)[int(np.argmin(np.abs(a)))]
    axis = np.cross(a, other)
    return axis * (math.pi / np.linalg.norm(axis)), math.pi


def _target_problem(target: IKTarget) -> str | None:
    """Why a target cannot be solved, or None when it is well formed."""
    position = np.asarray(target.position, dtype=float)
    if position.shape != (3,) or not np.all(np.isfinite(position)):
        return f'target position must be 3 finite values (m), got {target.position!r}'
    if target.rotation is not None:
        R = np.asarray(target.rotation, dtype=float)
        if R.shape != (3, 3) or not np.all(np.isfinite(R)) or not np.allclose(R @ R.T, np.eye(3), atol=1e-6) \
                or np.linalg.det(R) < 0:
            return f'target rotation must be a 3x3 rotation matrix, got {target.rotation!r}'
    for goal in target.axes:
        axis, direction = np.asarray(goal.axis, dtype=float), np.asarray(goal.direction, dtype=float)
        if axis.shape != (3,) or direction.shape != (3,) or not np.all(np.isfinite(axis)) \
                or not np.all(np.isfinite(direction)) or abs(np.linalg.norm(axis) - 1) > 1e-6 \
                or np.linalg.norm(direction) < 1e-9 or not (np.isfinite(goal.weight) and goal.weight >= 0):
            return f'axis goal needs a unit axis, a non-zero direction and a weight >= 0, got {goal!r}'
    return None
