"""IK on the SO-101 model: accuracy on reachable targets, clean failures, limits always respected."""
from __future__ import annotations

import numpy as np
import pytest

from dojo_core.kinematics.ik import AxisGoal, IKConfig, IKSolver, IKTarget
from dojo_core.kinematics.model import RobotModel
from dojo_core.sim import SimConfig

HOME = np.array(SimConfig().home_positions)
DOWN = AxisGoal((1.0, 0.0, 0.0), (0.0, 0.0, -1.0))


@pytest.fixture(scope='module')
def model():
    return RobotModel()


@pytest.fixture(scope='module')
def solver(model):
    return IKSolver(model)


def angle_between(a, b) -> float:
    return float(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0)))


def test_1000_random_reachable_targets_from_a_cold_start(model, solver):
    """Targets are FK of random configurations within the limits; every solve starts from home."""
    rng = np.random.default_rng(42)
    errors = []
    for _ in range(1000):
        target, _ = model.fk(model.random_configuration(rng))
        result = solver.solve(IKTarget(target), HOME)
        assert model.within_limits(result.q)
        achieved, _ = model.fk(result.q)
        error = float(np.linalg.norm(achieved - target))
        assert result.position_error == pytest.approx(error, abs=1e-12)
        assert result.success == (error <= solver.config.position_tolerance), result.reason
        assert result.q[-1] == HOME[-1]  # the gripper is not an IK joint
        errors.append(error)
    assert np.mean(np.array(errors) <= 2e-3) >= 0.99


def test_full_pose_targets_reach_position_and_mostly_orientation(model, solver):
    rng = np.random.default_rng(5)
    orientation_errors = []
    for _ in range(200):
        q = model.random_configuration(rng)
        position, rotation = model.fk(q)
        result = solver.solve(IKTarget(position, rotation=rotation), HOME)
        assert result.success and result.position_error <= 1e-3 and model.within_limits(result.q)
        _, achieved = model.fk(result.q)
        orientation_errors.append(angle_between(achieved[:, 0], rotation[:, 0]))
        assert result.orientation_error >= orientation_errors[-1] - 1e-9
    # Orientation is soft (the solver may settle in a local optimum), but usually exact.
    assert np.median(orientation_errors) < 1e-3


def test_top_down_grasps_over_the_cube_region_are_exact(model, solver):
    """Tool pointing down, jaws closing along any horizontal line: reachable everywhere cubes spawn,
    with the jaws one way round or the other (the tool frame sits 12.5 mm to one side of the wrist
    axis, so at the far corners of the region only one of the two ways reaches)."""
    x0, x1, y0, y1 = SimConfig().cube_region
    for x in np.linspace(x0, x1, 4):
        for y in np.linspace(y0, y1, 4):
            for yaw in (0.0, 0.7, 2.0, -2.5):
                exact = []
                for sign in (1.0, -1.0):
                    jaw = (sign * np.cos(yaw), sign * np.sin(yaw), 0.0)
                    target = IKTarget(np.array([x, y, 0.025]), axes=(DOWN, AxisGoal((0.0, 1.0, 0.0), jaw)))
                    result = solver.solve(target, HOME)
                    assert result.success
                    _, rotation = model.fk(result.q)
                    if result.orientation_error < 1e-3:
                        assert angle_between(rotation[:, 0], [0, 0, -1]) < 1e-3
                        assert angle_between(rotation[:, 1], jaw) < 1e-3
                        exact.append(sign)
                assert exact, (x, y, yaw)


def test_warm_start_stays_on_the_nearby_solution(model, solver):
    """Small target moves from a solved configuration give small joint moves (continuity)."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        q = model.random_configuration(rng)
        q[1:4] = np.clip(q[1:4], -1.2, 1.2)  # away from the limits
        position, _ = model.fk(q)
        result = solver.solve(IKTarget(position + rng.normal(0.0, 0.002, 3)), q)
        if result.success:
            assert np.abs(result.q - q).max() < 0.3
            assert result.reason == 'converged'


def test_position_is_never_traded_for_orientation(model, solver):
    """An orientation the arm cannot take at that point still gives the exact position."""
    target = IKTarget(np.array([0.28, 0.0, 0.15]), axes=(DOWN,))  # straight down is out of reach up there
    result = solver.solve(target, HOME)
    assert result.success and result.position_error <= 1e-3
    assert result.orientation_error > 0.1
    strict = IKSolver(model, IKConfig(orientation_tolerance=0.05, restarts=3)).solve(target, HOME)
    assert not strict.success and 'orientation error' in strict.reason
    assert model.within_limits(strict.q)


@pytest.mark.parametrize('position, reason', [
    ([2.0, 0.0, 0.2], 'out of reach'),
    ([0.0, 0.0, -0.5], 'out of reach'),
    ([np.nan, 0.0, 0.1], 'finite'),
    ([np.inf, 0.0, 0.1], 'finite'),
    ([0.1, 0.2], 'finite'),
])
def test_bad_targets_fail_cleanly(model, position, reason):
    solver = IKSolver(model, IKConfig(restarts=5))
    result = solver.solve(IKTarget(np.array(position, dtype=float)), HOME)
    assert not result.success
    assert reason in result.reason
    assert model.within_limits(result.q) and np.all(np.isfinite(result.q))


def test_malformed_goals_and_seeds(model, solver):
    position = np.array([0.2, 0.0, 0.05])
    assert 'rotation matrix' in solver.solve(IKTarget(position, rotation=np.ones((3, 3))), HOME).reason
    assert 'axis goal' in solver.solve(IKTarget(position, axes=(AxisGoal((2.0, 0, 0), (0, 0, 1)),)), HOME).reason
    assert 'axis goal' in solver.solve(IKTarget(position, axes=(AxisGoal((1.0, 0, 0), (0, 0, 0)),)), HOME).reason
    with pytest.raises(ValueError, match='q_seed'):
        solver.solve(IKTarget(position), np.full(6, np.nan))
    # A seed beyond the limits is clamped first: the answer is still within them.
    result = solver.solve(IKTarget(position), HOME + 5.0)
    assert result.success and model.within_limits(result.q)


def test_random_restarts_rescue_a_failed_warm_start_reproducibly(model):
    position, _ = model.fk(np.array([-1.15, 1.7, 0.87, -0.46, 0.84, 0.0]))  # folded down beside the base
    target = IKTarget(position)
    assert not IKSolver(model, IKConfig(restarts=0)).solve(target, HOME).success
    a, b = IKSolver(model), IKSolver(model)
    first, second = a.solve(target, HOME), b.solve(target, HOME)
    assert first.success and 'random restarts' in first.reason
    np.testing.assert_array_equal(first.q, second.q)
    np.testing.assert_array_equal(a.solve(target, HOME).q, first.q)
