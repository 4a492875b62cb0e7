"""dojo_core.kinematics.line_to (the straight tool lines of ik_node's `line` motion), ROS-free."""
from __future__ import annotations

import numpy as np
import pytest

from dojo_core.kinematics.cartesian import LineLimits, PlanningError, straight_line
from dojo_core.kinematics.ik import IKSolver, IKTarget
from dojo_core.kinematics.line_to import straight_line_to
from dojo_core.kinematics.model import RobotModel
from dojo_core.sim import SimConfig

HOME = np.array(SimConfig().home_positions)
PERIOD = 1.0 / 30.0


@pytest.fixture(scope='module')
def model():
    return RobotModel()


@pytest.fixture(scope='module')
def ik(model):
    return IKSolver(model)


@pytest.fixture(scope='module')
def limits(model):
    return LineLimits(0.15, 0.6, model.limits.velocity * 0.5, 8.0)


def test_lines_to_turned_goals_stay_on_the_line_within_limits_and_end_at_the_goal(model, ik, limits):
    rng = np.random.default_rng(3)
    planned = 0
    for _ in range(20):
        position, rotation = model.fk(model.limits.clamp(HOME + rng.uniform(-0.6, 0.6, 6)))
        goal = ik.solve(IKTarget(position, rotation=rotation), HOME)
        assert goal.success
        try:
            segment = straight_line_to(ik, HOME, goal.q, limits)
        except PlanningError:
            continue
        planned += 1
        np.testing.assert_array_equal(segment.start, HOME)
        np.testing.assert_array_equal(segment.end, goal.q)
        start, end = model.fk(HOME)[0], model.fk(goal.q)[0]
        direction = (end - start) / np.linalg.norm(end - start)
        samples = np.array([segment.sample(t) for t in np.arange(0.0, segment.duration + PERIOD, PERIOD)])
        tools = np.array([model.fk(q)[0] for q in samples])
        off_line = np.linalg.norm(np.cross(tools - start, direction), axis=1)
        assert off_line.max() < 2e-3
        assert all(model.within_limits(q) for q in samples)
        velocity = np.abs(np.diff(samples, axis=0)).max(axis=0) / PERIOD
        assert np.all(velocity <= limits.joint_velocity + 1e-9)
        speed = np.linalg.norm(np.diff(tools, axis=0), axis=1).max() / PERIOD
        assert speed <= limits.speed * 1.05   # knots are IK solutions within 1 mm of the line
    assert planned >= 18


def test_a_turn_that_straight_line_refuses_is_planned(model, ik, limits):
    """straight_line takes the goal rotation at its first knot (a jump it refuses); the line to
    the solved goal configuration turns the tool gradually instead."""
    goal = ik.solve(IKTarget(*model.fk(np.array([0.5, 0.3, 0.2, 0.6, 1.2, 0.3]))), HOME)
    with pytest.raises(PlanningError, match='jumps'):
        straight_line(ik, HOME, IKTarget(*model.fk(goal.q)), limits)
    segment = straight_line_to(ik, HOME, goal.q, limits)
    knot_steps = np.abs(np.diff(segment.knots, axis=0)).max()
    assert knot_steps < 0.1


def test_a_line_past_the_base_axis_is_refused(ik, limits):
    """From left to right past the shoulder axis the arm must swing round: no straight line."""
    a = ik.solve(IKTarget(np.array([0.0, 0.2, 0.05])), HOME)
    b = ik.solve(IKTarget(np.array([0.0, -0.2, 0.05])), HOME)
    assert a.success and b.success
    with pytest.raises(PlanningError, match='along the line'):
        straight_line_to(ik, a.q, b.q, limits, 'sweep')
