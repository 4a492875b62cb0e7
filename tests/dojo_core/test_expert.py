"""The scripted pick-and-place expert: its plans (limits, grasp geometry, randomisation) and its
episodes on the real MuJoCo cell (no rendering)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dojo_core.expert import ExpertConfig, PickPlaceExpert, run_episode
from dojo_core.expert.pick_place import PHASES
from dojo_core.kinematics.cartesian import PlanningError
from dojo_core.kinematics.model import RobotModel
from dojo_core.robot import JOINT_NAMES
from dojo_core.sim import SimCell, SimConfig

GRIPPER = JOINT_NAMES.index('gripper')
CONTROL_PERIOD = 1.0 / SimConfig().control_rate_hz


@pytest.fixture(scope='module')
def cell():
    c = SimCell(SimConfig())
    yield c
    c.close()


@pytest.fixture(scope='module')
def model(cell):
    return RobotModel(cell.urdf)


@pytest.fixture(scope='module')
def expert(model):
    return PickPlaceExpert(model)


def yaw_quaternion(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def plan_for(expert, position, yaw, seed=0, q_now=None):
    q_now = np.array(SimConfig().home_positions) if q_now is None else q_now
    return expert.plan(q_now, (np.asarray(position, dtype=float), yaw_quaternion(yaw)), np.random.default_rng(seed))


@pytest.mark.slow
def test_ten_seeded_episodes_place_the_cube(cell, model, monkeypatch):
    """The acceptance bar: at least 9 of 10 seeded episodes end with the cube resting in the bin,
    without rendering a single camera frame."""
    def no_rendering(camera):
        raise AssertionError(f'run_episode rendered {camera}')

    monkeypatch.setattr(cell, 'render', no_rendering)
    results = [run_episode(cell, seed, model=model) for seed in range(10)]
    assert sum(r.success for r in results) >= 9, [r.reason for r in results if not r.success]
    for r in results:
        if r.success:
            assert r.steps == pytest.approx(r.duration_s / CONTROL_PERIOD, abs=1e-6)


@pytest.mark.parametrize('position, yaw', [([0.14, -0.08, 0.0125], 0.3), ([0.24, -0.08, 0.0125], 2.0),
                                           ([0.24, 0.06, 0.0125], -1.2), ([0.19, 0.0, 0.0125], 0.785)])
def test_plan_phases_limits_and_grasp_geometry(expert, model, position, yaw):
    cfg = expert.config
    plan = plan_for(expert, position, yaw)
    labels = list(dict.fromkeys(s.label for s in plan.segments))
    assert labels == list(PHASES)
    samples = np.array([plan.sample(t) for t in np.arange(0.0, plan.duration + CONTROL_PERIOD, CONTROL_PERIOD)])
    assert all(model.within_limits(q) for q in samples)
    velocity = np.abs(np.diff(samples, axis=0)).max(axis=0) / CONTROL_PERIOD
    assert np.all(velocity <= model.limits.velocity * cfg.speed_scale + 1e-9)
    acceleration = np.abs(np.diff(samples, n=2, axis=0)).max(axis=0) / CONTROL_PERIOD**2
    assert np.all(acceleration <= cfg.joint_acceleration + 1e-9)

    # At the bottom of the descent: tool above the cube centre, pointing down, jaws square to a face,
    # the fixed jaw jaw_clearance short of the cube, gripper open.
    at_grasp = plan.sample(plan.start_time('grasp'))
    tool, rotation = model.fk(at_grasp)
    assert at_grasp[GRIPPER] == pytest.approx(cfg.gripper_open)
    assert np.degrees(np.arccos(-rotation[2, 0])) < 3.0
    jaw_yaw = np.arctan2(rotation[1, 1], rotation[0, 1])
    assert abs((jaw_yaw - yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4) < 0.05
    offset = tool - np.asarray(position)
    assert offset[2] == pytest.approx(cfg.grasp_height, abs=cfg.position_noise + 1e-3)
    along_jaws = offset @ rotation[:, 1]
    assert along_jaws == pytest.approx(-cfg.jaw_clearance, abs=2 * cfg.position_noise + 1e-3)
    # Closed while lifting and carrying, open after the release.
    assert plan.sample(plan.start_time('lift'))[GRIPPER] == pytest.approx(cfg.gripper_closed)
    assert plan.sample(plan.start_time('transfer'))[GRIPPER] == pytest.approx(cfg.gripper_closed)
    assert plan.sample(plan.duration)[GRIPPER] == pytest.approx(cfg.gripper_open)
    # Released over the bin, from above its walls.
    over_bin, _ = model.fk(plan.sample(plan.start_time('release')))
    assert np.linalg.norm(over_bin[:2] - cfg.bin_position) < 4 * cfg.position_noise
    assert over_bin[2] > SimConfig().bin_wall_height + SimConfig().cube_size


def test_descent_and_lift_are_vertical_lines(expert, model):
    plan = plan_for(expert, [0.2, -0.03, 0.0125], 0.4)
    for phase, after in (('descend', 'grasp'), ('lift', 'transfer')):
        times = np.linspace(plan.start_time(phase), plan.start_time(after) - 1e-6, 30)
        tools = np.array([model.fk(plan.sample(t))[0] for t in times])
        assert np.abs(tools[:, :2] - tools[0, :2]).max() < 1e-3
        heights = np.diff(tools[:, 2]) * (-1 if phase == 'descend' else 1)
        assert np.all(heights >= -1e-6)  # monotonically down, then up


def test_randomisation(expert, model):
    position, yaw = [0.2, 0.0, 0.0125], 0.2
    a, b, again = plan_for(expert, position, yaw, seed=1), plan_for(expert, position, yaw, seed=2), \
        plan_for(expert, position, yaw, seed=1)
    assert a.duration != b.duration
    assert not np.allclose(a.sample(a.start_time('grasp')), b.sample(b.start_time('grasp')))
    assert again.duration == a.duration
    np.testing.assert_array_equal(again.sample(1.234), a.sample(1.234))
    steady = PickPlaceExpert(model, ExpertConfig(noise=0.0))
    c, d = plan_for(steady, position, yaw, seed=1), plan_for(steady, position, yaw, seed=2)
    assert c.duration == d.duration
    np.testing.assert_array_equal(c.sample(2.0), d.sample(2.0))
    # Timing noise only ever slows segments down, by at most timing_noise.
    timing_only = PickPlaceExpert(model, ExpertConfig(position_noise=0.0))
    for seed in range(5):
        noisy = plan_for(timing_only, position, yaw, seed=seed)
        for slow, plain in zip(noisy.segments, c.segments):
            np.testing.assert_allclose(slow.knots, plain.knots, atol=1e-9)
            assert plain.duration <= slow.duration <= plain.duration * (1 + timing_only.config.timing_noise)


def test_the_wrist_follows_the_cube_yaw(expert, model):
    """Cube yaws a quarter turn apart are the same grasp problem: the jaws end up square to the faces."""
    for yaw in np.linspace(-np.pi, np.pi, 9):
        plan = plan_for(expert, [0.18, 0.02, 0.0125], yaw)
        _, rotation = model.fk(plan.sample(plan.start_time('grasp')))
        jaw_yaw = np.arctan2(rotation[1, 1], rotation[0, 1])
        assert abs((jaw_yaw - yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4) < 0.05


def test_bad_requests_raise_planning_errors(expert):
    with pytest.raises(PlanningError, match='no top-down grasp'):
        plan_for(expert, [0.6, 0.0, 0.0125], 0.0)
    with pytest.raises(PlanningError, match='cube pose'):
        plan_for(expert, [np.nan, 0.0, 0.0125], 0.0)
    with pytest.raises(PlanningError, match='q_now'):
        plan_for(expert, [0.2, 0.0, 0.0125], 0.0, q_now=np.zeros(5))


def test_unplannable_episode_reports_why(cell, model):
    """An episode whose bin is out of reach fails at planning, with the reason, before any step."""
    far_bin = dataclasses.replace(cell.config, bin_position=[0.7, 0.0])
    far = SimCell(far_bin)
    try:
        result = run_episode(far, 0, model=model)
    finally:
        far.close()
    assert not result.success and result.steps == 0 and 'over the bin' in result.reason


def test_on_step_sees_every_command(cell, model):
    seen = []
    result = run_episode(cell, 3, ExpertConfig(noise=0.5), model=model,
                         on_step=lambda c, targets: seen.append((c.time, targets.copy())))
    assert len(seen) == result.steps
    times = np.array([t for t, _ in seen])
    np.testing.assert_allclose(np.diff(times), CONTROL_PERIOD, atol=1e-9)
    assert all(model.within_limits(q) for _, q in seen)


def test_plans_start_from_wherever_the_arm_is(expert, model):
    """A ROS node plans from the measured joint state: any configuration within the limits (and
    one slightly beyond them, which the plan clamps first) gives a plan starting there."""
    rng = np.random.default_rng(11)
    starts = [model.random_configuration(rng) for _ in range(6)]
    starts.append(model.limits.upper + 0.01)
    for q_now in starts:
        plan = plan_for(expert, [0.2, -0.02, 0.0125], 0.6, q_now=q_now)
        np.testing.assert_allclose(plan.sample(0.0), model.limits.clamp(q_now))
        assert plan.segments[0].label == 'approach'
