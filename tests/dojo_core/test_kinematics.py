"""RobotModel against the URDF, and motion timing against its limits (joint and straight-line moves)."""
from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest

from dojo_core.kinematics.cartesian import KNOT_SPACING, LineLimits, PlanningError, straight_line
from dojo_core.kinematics.ik import AxisGoal, IKSolver, IKTarget
from dojo_core.kinematics.model import RobotModel
from dojo_core.kinematics.trajectory import JointPlan, Segment, min_jerk_duration, minimum_jerk
from dojo_core.robot import JOINT_NAMES, expand_xacro, joint_limits

CONTROL_PERIOD = 1.0 / 30.0


@pytest.fixture(scope='module')
def model():
    return RobotModel()


def rates(samples: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint peak |velocity| and |acceleration| of positions sampled every dt (finite differences)."""
    velocity = np.diff(samples, axis=0) / dt
    return np.abs(velocity).max(axis=0), np.abs(np.diff(velocity, axis=0) / dt).max(axis=0)


def sampled(path, dt: float) -> np.ndarray:
    return np.array([path.sample(t) for t in np.arange(0.0, path.duration + dt, dt)])


# -- the model -------------------------------------------------------------------------------------
def test_joint_order_and_limits_come_from_the_urdf(model):
    assert model.dof == len(JOINT_NAMES)
    reference = joint_limits(expand_xacro(hardware_type='none'))
    for field in ('lower', 'upper', 'velocity', 'effort'):
        np.testing.assert_array_equal(getattr(model.limits, field), getattr(reference, field))
    assert model.limits.names == JOINT_NAMES


def test_fk_zero_pose_matches_the_link_lengths(model):
    """Zero pose: upper arm up, forearm and tool forward; the tool frame sits 4 cm past the palm,
    12.5 mm to the side of the wrist axis (base 5 + shoulder 6 + upper arm 11.6 cm high;
    forearm 13.5 + wrist 3 + palm 3 + 4 cm forward)."""
    position, rotation = model.fk(np.zeros(6))
    np.testing.assert_allclose(position, [0.235, 0.0125, 0.226], atol=1e-9)
    np.testing.assert_allclose(rotation, np.eye(3), atol=1e-12)
    # Pan a quarter turn: the tool swings round the base z axis.
    position, rotation = model.fk(np.array([np.pi / 2, 0, 0, 0, 0, 0]))
    np.testing.assert_allclose(position, [-0.0125, 0.235, 0.226], atol=1e-9)
    np.testing.assert_allclose(rotation[:, 0], [0, 1, 0], atol=1e-12)


def test_jacobian_matches_finite_differences_of_fk(model):
    rng = np.random.default_rng(3)
    eps = 1e-6
    for _ in range(20):
        q = model.random_configuration(rng)
        for frame in ('gripper_frame', 'wrist_link', 'moving_jaw_link'):
            p, R = model.fk(q, frame)
            J = model.jacobian(q, frame)
            assert J.shape == (6, 6)
            for i in range(6):
                dq = np.zeros(6)
                dq[i] = eps
                p2, R2 = model.fk(q + dq, frame)
                np.testing.assert_allclose(J[:3, i], (p2 - p) / eps, atol=1e-5)
                np.testing.assert_allclose(J[3:, i], pin.log3(R2 @ R.T) / eps, atol=1e-5)
            p3, R3, J3 = model.fk_and_jacobian(q, frame)
            np.testing.assert_array_equal(p3, p)
            np.testing.assert_array_equal(J3, J)
    # The gripper joint moves the jaw, not the tool frame.
    assert not np.any(model.jacobian(np.zeros(6))[:, JOINT_NAMES.index('gripper')])


def test_random_configurations_are_within_limits(model):
    rng = np.random.default_rng(0)
    samples = np.array([model.random_configuration(rng) for _ in range(500)])
    assert all(model.within_limits(q) for q in samples)
    assert not model.within_limits(model.limits.upper + 0.01)


def test_bad_queries_are_refused(model):
    with pytest.raises(KeyError, match='no frame'):
        model.fk(np.zeros(6), 'tentacle')
    with pytest.raises(ValueError, match='finite'):
        model.fk(np.array([np.nan, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match='6'):
        model.jacobian(np.zeros(5))


# -- timing ----------------------------------------------------------------------------------------
def test_min_jerk_duration_meets_the_tighter_limit():
    # Velocity-bound: 1 rad at 1 rad/s peak needs 1.875 s; acceleration-bound: sqrt(5.77 * 1 / 1).
    assert min_jerk_duration(1.0, 1.0, 100.0) == pytest.approx(1.875)
    assert min_jerk_duration(1.0, 100.0, 1.0) == pytest.approx(np.sqrt(10 / np.sqrt(3)))
    # Per joint, the slowest joint decides.
    assert min_jerk_duration([0.1, -2.0], [1.0, 4.0], 100.0) == pytest.approx(1.875 * 0.5)
    with pytest.raises(ValueError, match='positive'):
        min_jerk_duration(1.0, 0.0, 1.0)


@pytest.mark.parametrize('dt', [CONTROL_PERIOD, 0.01, 0.001])
def test_segments_within_limits_respect_them(dt):
    v_max, a_max = np.array([2.0, 1.0, 0.5]), 3.0
    straight = Segment.within_limits([[0.0, 0.0, 0.0], [1.0, -0.4, 0.2]], v_max, a_max)
    s = np.linspace(0.0, 1.0, 40)[:, None]
    curved = Segment.within_limits(np.hstack([np.sin(3 * s), s**2, np.cos(2 * s)]), v_max, a_max)
    for segment in (straight, curved):
        velocity, acceleration = rates(sampled(segment, dt), dt)
        assert np.all(velocity <= v_max * (1 + 1e-9))
        assert np.all(acceleration <= a_max * (1 + 1e-9))
        # ... and the limits are used, not just met: the bounds reach one of them.
        bound_v, bound_a = segment.peak_rates()
        assert max((bound_v / v_max).max(), (bound_a / a_max).max()) == pytest.approx(1.0)
    # A straight segment reaches its velocity bound (peak of a min-jerk move) to within sampling.
    assert rates(sampled(straight, 1e-3), 1e-3)[0] == pytest.approx(straight.peak_rates()[0], rel=1e-3)


def test_segment_starts_and_ends_at_rest_and_holds_outside():
    segment = Segment([[0.0, 1.0], [0.5, 0.5], [2.0, 0.0]], 2.0)
    np.testing.assert_array_equal(segment.sample(-1.0), [0.0, 1.0])
    np.testing.assert_array_equal(segment.sample(5.0), [2.0, 0.0])
    dt = 1e-4
    assert np.abs(segment.sample(dt) - segment.sample(0)).max() / dt < 1e-4
    assert np.abs(segment.sample(2.0) - segment.sample(2.0 - dt)).max() / dt < 1e-4
    np.testing.assert_allclose(segment.sample(1.0), [0.5, 0.5])  # symmetric profile: mid-time, mid-path
    with pytest.raises(ValueError, match='two knots'):
        Segment([[0.0, 0.0]], 1.0)
    with pytest.raises(ValueError, match='positive'):
        Segment([[0.0], [1.0]], 0.0)
    with pytest.raises(ValueError, match='finite'):
        Segment([[0.0], [np.nan]], 1.0)


def test_segment_paths_never_overshoot_their_knots():
    """Between two knots the path stays between them, so knots within joint limits keep it within."""
    knots = np.array([[0.0, 0.0], [1.0, 0.1], [1.0, 0.3], [0.2, 0.35], [0.9, 2.0], [0.0, 2.1]])
    segment = Segment(knots, 1.0)
    n = len(knots) - 1
    for t in np.linspace(0.0, 1.0, 4001):
        i = min(int(minimum_jerk(t) * n), n - 1)
        q = segment.sample(t)
        assert np.all(q >= np.minimum(knots[i], knots[i + 1]) - 1e-12)
        assert np.all(q <= np.maximum(knots[i], knots[i + 1]) + 1e-12)
    for i, knot in enumerate(knots):  # and it passes through every knot
        t = np.interp(i / n, minimum_jerk(np.linspace(0, 1, 100001)), np.linspace(0, 1, 100001))
        np.testing.assert_allclose(segment.sample(t), knot, atol=1e-4)


def test_joint_plan_chains_segments():
    a = Segment([[0.0, 0.0], [1.0, 0.0]], 1.0, 'out')
    pause = Segment([[1.0, 0.0], [1.0, 0.0]], 0.5, 'wait')
    b = Segment([[1.0, 0.0], [1.0, 2.0]], 2.0, 'up')
    plan = JointPlan([a, pause, b])
    assert plan.duration == pytest.approx(3.5)
    np.testing.assert_allclose(plan.sample(0.5), a.sample(0.5))
    np.testing.assert_allclose(plan.sample(1.2), [1.0, 0.0])
    np.testing.assert_allclose(plan.sample(2.5), b.sample(1.0))
    np.testing.assert_allclose(plan.sample(99.0), [1.0, 2.0])
    assert [plan.label(t) for t in (0.2, 1.2, 3.0, 10.0)] == ['out', 'wait', 'up', 'up']
    assert plan.start_time('up') == pytest.approx(1.5)
    with pytest.raises(KeyError):
        plan.start_time('down')
    with pytest.raises(ValueError, match='at least one'):
        JointPlan([])
    with pytest.raises(ValueError, match='does not start where'):
        JointPlan([a, Segment([[5.0, 5.0], [1.0, 1.0]], 1.0, 'jump')])


# -- straight lines --------------------------------------------------------------------------------
def test_straight_line_keeps_the_tool_on_the_line_within_limits(model):
    ik = IKSolver(model)
    start_q = np.array([0.2, 0.5, 0.1, 0.9, 0.3, 0.5])
    start, _ = model.fk(start_q)
    goal = start + np.array([0.03, -0.05, -0.06])
    limits = LineLimits(speed=0.1, acceleration=0.4, joint_velocity=model.limits.velocity * 0.5,
                        joint_acceleration=8.0)
    segment = straight_line(ik, start_q, IKTarget(goal, axes=(AxisGoal((1, 0, 0), (0, 0, -1), 0.2),)), limits)
    assert len(segment.knots) >= np.linalg.norm(goal - start) / KNOT_SPACING
    np.testing.assert_array_equal(segment.sample(0.0), start_q)
    np.testing.assert_allclose(model.fk(segment.sample(segment.duration))[0], goal, atol=1e-3)
    samples = sampled(segment, CONTROL_PERIOD)
    tool = np.array([model.fk(q)[0] for q in samples])
    direction = (goal - start) / np.linalg.norm(goal - start)
    off_line = tool - start - np.outer((tool - start) @ direction, direction)
    assert np.linalg.norm(off_line, axis=1).max() < 1e-3
    assert np.all(np.diff((tool - start) @ direction) >= -1e-6)  # never backs up
    assert np.linalg.norm(np.diff(tool, axis=0), axis=1).max() / CONTROL_PERIOD <= limits.speed * 1.01
    velocity, acceleration = rates(samples, CONTROL_PERIOD)
    assert np.all(velocity <= limits.joint_velocity * (1 + 1e-9))
    assert np.all(acceleration <= limits.joint_acceleration * (1 + 1e-9))
    assert all(model.within_limits(q) for q in samples)


def test_straight_line_out_of_reach_fails_with_a_reason(model):
    limits = LineLimits(0.1, 0.4, model.limits.velocity, 8.0)
    with pytest.raises(PlanningError, match='no IK solution'):
        straight_line(IKSolver(model), np.zeros(6), IKTarget(np.array([0.6, 0.0, 0.2])), limits, 'reach out')
