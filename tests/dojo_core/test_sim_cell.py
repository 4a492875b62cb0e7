"""The MuJoCo cell against its single source of kinematics (the URDF, through pinocchio) and its task."""
from __future__ import annotations

import mujoco
import numpy as np
import pinocchio as pin
import pytest

from dojo_core.robot import JOINT_NAMES, expand_xacro, joint_limits
from dojo_core.sim import SimCell, SimConfig
from dojo_core.sim.scene import OPTICAL_TO_MUJOCO_CAMERA

SMALL = SimConfig()
SMALL.front_camera.width, SMALL.front_camera.height = 160, 120
SMALL.wrist_camera.width, SMALL.wrist_camera.height = 96, 72


@pytest.fixture(scope='module')
def cell():
    c = SimCell(SMALL)
    yield c
    c.close()


@pytest.mark.parametrize('hardware_type', ['mock', 'topic', 'none'])
def test_pinocchio_loads_every_variant(hardware_type):
    model = pin.buildModelFromXML(expand_xacro(hardware_type=hardware_type))
    assert [model.names[i] for i in range(1, model.njoints)] == list(JOINT_NAMES)
    limits = joint_limits(expand_xacro(hardware_type=hardware_type))
    np.testing.assert_allclose(model.lowerPositionLimit, limits.lower)
    np.testing.assert_allclose(model.upperPositionLimit, limits.upper)
    assert model.existFrame('gripper_frame')


def test_limits_are_the_so101_reference_limits(cell):
    expected = {'shoulder_pan': (-1.91986, 1.91986), 'shoulder_lift': (-1.74533, 1.74533),
                'elbow_flex': (-1.69, 1.69), 'wrist_flex': (-1.65806, 1.65806),
                'wrist_roll': (-2.74385, 2.84121), 'gripper': (-0.174533, 1.74533)}
    for i, name in enumerate(JOINT_NAMES):
        assert (cell.limits.lower[i], cell.limits.upper[i]) == expected[name]
        assert tuple(cell.model.jnt_range[cell.model.joint(name).id]) == pytest.approx(expected[name])


def test_pinocchio_fk_matches_mujoco_body_poses(cell):
    """100 random configurations: every URDF link and both optical frames agree within 1 mm / 1 mrad."""
    model = pin.buildModelFromXML(cell.urdf)
    data = model.createData()
    rng = np.random.default_rng(7)
    links = [model.frames[i].name for i in range(model.nframes) if model.frames[i].type == pin.FrameType.BODY]
    links = [name for name in links if name != 'universe']
    assert {'gripper_frame', 'front_camera_optical_frame', 'wrist_camera_optical_frame'} <= set(links)
    flip = np.diag([1.0, -1.0, -1.0])  # MuJoCo camera axes = optical axes rotated by pi about x
    assert OPTICAL_TO_MUJOCO_CAMERA == (0.0, 1.0, 0.0, 0.0)
    worst = 0.0
    for _ in range(100):
        q = rng.uniform(cell.limits.lower, cell.limits.upper)
        cell.data.qpos[cell._qpos] = q
        mujoco.mj_forward(cell.model, cell.data)
        pin.framesForwardKinematics(model, data, q)
        for link in links:
            placement = data.oMf[model.getFrameId(link)]
            position, rotation = cell.body_pose(link)
            worst = max(worst, np.linalg.norm(position - placement.translation))
            np.testing.assert_allclose(rotation, placement.rotation, atol=1e-3)
        for cam in ('front', 'wrist'):
            placement = data.oMf[model.getFrameId(f'{cam}_camera_optical_frame')]
            np.testing.assert_allclose(cell.data.cam(cam).xpos, placement.translation, atol=1e-3)
            np.testing.assert_allclose(cell.data.cam(cam).xmat.reshape(3, 3), placement.rotation @ flip, atol=1e-3)
    assert worst < 1e-3
    cell.reset(0)


def test_reset_is_deterministic_and_seed_dependent():
    a, b = SimCell(SMALL), SimCell(SMALL)
    a.reset(3), b.reset(3)
    np.testing.assert_array_equal(a.object_pose()[0], b.object_pose()[0])
    targets = np.array([0.3, 0.2, 0.1, 0.9, -0.4, 0.8])
    for _ in range(20):
        a.step(targets), b.step(targets)
    np.testing.assert_array_equal(a.data.qpos, b.data.qpos)
    b.reset(4)
    assert not np.allclose(a.object_pose()[0], b.object_pose()[0])
    x0, x1, y0, y1 = SMALL.cube_region
    for seed in range(20):
        p, _ = b.reset(seed) and b.object_pose()
        assert x0 <= p[0] <= x1 and y0 <= p[1] <= y1
        assert p[2] == pytest.approx(SMALL.cube_size / 2)


def test_position_actuators_track_targets(cell):
    cell.reset(1)
    target = np.array([0.5, 0.3, -0.4, 0.8, 0.5, 1.0])
    for _ in range(60):
        cell.step(target)
    obs = cell.observation(render=False)
    np.testing.assert_allclose(obs.joint_positions, target, atol=0.02)
    assert np.abs(obs.joint_velocities).max() < 1e-2


def test_targets_beyond_limits_are_clamped_and_bad_targets_refused(cell):
    cell.reset(1)
    cell.step(np.array([5.0, 0.0, 0.0, 0.0, 0.0, -3.0]))
    ctrl = cell.joint_targets()
    assert ctrl[0] == pytest.approx(cell.limits.upper[0]) and ctrl[5] == pytest.approx(cell.limits.lower[5])
    with pytest.raises(ValueError):
        cell.step(np.array([np.nan, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError):
        cell.step(np.zeros(5))


def _settle(cell, steps=30):
    for _ in range(steps):
        cell.step()


def test_success_when_cube_rests_in_bin(cell):
    cell.reset(2)
    _settle(cell)
    assert not cell.success()  # cube on the table
    bx, by = SMALL.bin_position
    cell.set_object_pose([bx, by, 0.05])  # drop into the bin
    assert not cell.success()  # falling, not resting yet
    _settle(cell)
    position, _ = cell.object_pose()
    assert abs(position[0] - bx) < 0.01 and position[2] < 0.03
    assert cell.success()
    cell.set_object_pose([bx + 0.2, by, 0.0125])  # next to the bin
    _settle(cell)
    assert not cell.success()


def test_cameras_render_rgb_with_consistent_intrinsics(cell):
    """The cube's centre projected with camera_info K lands on the red pixels of the rendered image."""
    cell.reset(5)
    _settle(cell, 5)
    image = cell.render('front')
    assert image.shape == (SMALL.front_camera.height, SMALL.front_camera.width, 3) and image.dtype == np.uint8
    assert cell.render('wrist').shape == (72, 96, 3)
    red = (image[..., 0] > 150) & (image[..., 1] < 60) & (image[..., 2] < 60)
    assert red.sum() > 5
    rows, cols = np.nonzero(red)
    intr = cell.intrinsics('front')
    cam = cell.data.cam('front')
    optical_rotation = cam.xmat.reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])
    p = optical_rotation.T @ (cell.object_pose()[0] - cam.xpos)
    u, v = intr.fx * p[0] / p[2] + intr.cx, intr.fy * p[1] / p[2] + intr.cy
    assert abs(u - cols.mean()) < 3 and abs(v - rows.mean()) < 3


def test_config_validation():
    with pytest.raises(ValueError, match='multiple'):
        SimConfig(physics_rate_hz=500.0, control_rate_hz=30.0)
    with pytest.raises(ValueError, match='cube_region'):
        SimConfig(cube_region=[0.3, 0.1, 0.0, 0.1])
    with pytest.raises(ValueError, match='task'):
        SimCell(SMALL, task='juggle')
