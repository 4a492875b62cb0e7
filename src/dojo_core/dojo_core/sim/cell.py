"""The simulated SO-101 pick_place cell: MuJoCo physics, two RGB cameras, a cube and a bin.

Pure Python and ROS-free: sim_node wraps it for ROS, the gymnasium env wraps it for RL, and data
generation can drive it directly. Everything random is drawn from the seed given to `reset`, so an
episode is reproducible from (seed, sequence of joint targets).
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dojo_core.robot.description import JOINT_NAMES, expand_xacro, joint_limits
from dojo_core.sim import scene
from dojo_core.sim.config import SimConfig

TASKS = {'pick_place': 'Pick up the red cube and place it in the blue bin.'}

# A cube counts as resting when it moves slower than these.
REST_LINEAR_SPEED = 0.02    # m/s
REST_ANGULAR_SPEED = 0.5    # rad/s


@dataclass
class Observation:
    """What the cell's sensors report at `time` (sim seconds); positions in rad, velocities in rad/s."""

    time: float
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    images: dict[str, np.ndarray]


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole model of a rendered camera, in ROS camera_info conventions (pixel centres at integers);
    sim_node publishes it through dojo_core.cameras.pinhole_calibration."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float


class SimCell:
    """The cell. `step` applies position targets for one control period; `observation` reads sensors."""

    joint_names: tuple[str, ...] = JOINT_NAMES

    def __init__(self, config: SimConfig | None = None, urdf: str | None = None, task: str = 'pick_place',
                 seed: int | None = 0):
        if task not in TASKS:
            raise ValueError(f'unknown task {task!r}; known: {sorted(TASKS)}')
        self.config = config or SimConfig()
        self.task = task
        self.urdf = urdf or expand_xacro(hardware_type='none')
        self.limits = joint_limits(self.urdf)
        self.model = scene.build_spec(self.urdf, self.config).compile()
        self.data = mujoco.MjData(self.model)
        self.substeps = int(round(self.config.physics_rate_hz / self.config.control_rate_hz))
        m = self.model
        self._qpos = np.array([m.jnt_qposadr[m.joint(n).id] for n in JOINT_NAMES])
        self._qvel = np.array([m.jnt_dofadr[m.joint(n).id] for n in JOINT_NAMES])
        self._actuators = np.array([m.actuator(n).id for n in JOINT_NAMES])
        cube_joint = m.joint('cube_free')
        self._cube_qpos = m.jnt_qposadr[cube_joint.id]
        self._cube_qvel = m.jnt_dofadr[cube_joint.id]
        self._cube_geom = m.geom('cube').id
        self._robot_geoms = frozenset(scene.robot_geom_ids(m).tolist())
        self._renderers: dict[str, mujoco.Renderer] = {}
        self.reset(seed)

    # -- episode control -------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> Observation:
        """Arm to the home pose, cube to a uniformly random pose in the spawn region."""
        self.rng = np.random.default_rng(seed)
        mujoco.mj_resetData(self.model, self.data)
        home = self.limits.clamp(np.asarray(self.config.home_positions, dtype=float))
        self.data.qpos[self._qpos] = home
        self.data.ctrl[self._actuators] = home
        x0, x1, y0, y1 = self.config.cube_region
        position = [self.rng.uniform(x0, x1), self.rng.uniform(y0, y1), self.config.cube_size / 2]
        yaw = self.rng.uniform(-np.pi, np.pi)
        self.set_object_pose(position, [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
        return self.observation(render=False)

    def set_object_pose(self, position, quaternion_wxyz=(1.0, 0.0, 0.0, 0.0)) -> None:
        """Teleport the cube (at rest) to a pose in the base frame; used by reset and by tests."""
        q = np.asarray(quaternion_wxyz, dtype=float)
        self.data.qpos[self._cube_qpos:self._cube_qpos + 7] = [*position, *(q / np.linalg.norm(q))]
        self.data.qvel[self._cube_qvel:self._cube_qvel + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    # -- stepping ---------------------------------------------------------------------------------
    def step(self, joint_targets: np.ndarray | None = None) -> None:
        """Hold `joint_targets` (rad, JOINT_NAMES order, clamped to the URDF limits) for one control period."""
        if joint_targets is not None:
            targets = np.asarray(joint_targets, dtype=float)
            if targets.shape != (len(JOINT_NAMES),) or not np.all(np.isfinite(targets)):
                raise ValueError(f'joint_targets must be {len(JOINT_NAMES)} finite values, got {targets!r}')
            self.data.ctrl[self._actuators] = self.limits.clamp(targets)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)

    @property
    def time(self) -> float:
        return float(self.data.time)

    # -- sensors ----------------------------------------------------------------------------------
    def joint_targets(self) -> np.ndarray:
        return self.data.ctrl[self._actuators].copy()

    def observation(self, render: bool = True) -> Observation:
        return Observation(
            time=self.time,
            joint_positions=self.data.qpos[self._qpos].copy(),
            joint_velocities=self.data.qvel[self._qvel].copy(),
            images={name: self.render(name) for name in self.config.cameras} if render else {},
        )

    def render(self, camera: str) -> np.ndarray:
        """An RGB image (H x W x 3, uint8) from camera `front` or `wrist`."""
        renderer = self._renderers.get(camera)
        if renderer is None:
            cam = self.config.cameras[camera]
            renderer = self._renderers[camera] = mujoco.Renderer(self.model, cam.height, cam.width)
        renderer.update_scene(self.data, camera=camera)
        return renderer.render()

    def intrinsics(self, camera: str) -> CameraIntrinsics:
        cam = self.config.cameras[camera]
        f = (cam.height / 2) / np.tan(np.radians(cam.fovy_deg) / 2)
        return CameraIntrinsics(cam.width, cam.height, f, f, (cam.width - 1) / 2, (cam.height - 1) / 2)

    def object_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Cube position (m) and orientation quaternion (w, x, y, z) in the base frame."""
        q = self.data.qpos[self._cube_qpos:self._cube_qpos + 7]
        return q[:3].copy(), q[3:].copy()

    def body_pose(self, body: str) -> tuple[np.ndarray, np.ndarray]:
        """World pose of any body: position (m) and rotation matrix (3 x 3)."""
        b = self.data.body(body)
        return b.xpos.copy(), b.xmat.reshape(3, 3).copy()

    # -- task -------------------------------------------------------------------------------------
    @property
    def task_description(self) -> str:
        return TASKS[self.task]

    def cube_held(self) -> bool:
        """True while any arm geom touches the cube."""
        for c in self.data.contact[:self.data.ncon]:
            pair = {int(c.geom1), int(c.geom2)}
            if self._cube_geom in pair and (pair - {self._cube_geom}) & self._robot_geoms:
                return True
        return False

    def success(self) -> bool:
        """pick_place: the cube rests inside the bin and the gripper has let go of it."""
        position, _ = self.object_pose()
        cfg = self.config
        half = cfg.cube_size / 2
        margin = cfg.bin_inner_size / 2 - half * 0.9
        inside = bool(np.all(np.abs(position[:2] - np.asarray(cfg.bin_position)) <= margin)
                      and position[2] < scene.BIN_THICKNESS + cfg.bin_wall_height)
        v = self.data.qvel[self._cube_qvel:self._cube_qvel + 6]
        resting = np.linalg.norm(v[:3]) < REST_LINEAR_SPEED and np.linalg.norm(v[3:]) < REST_ANGULAR_SPEED
        return inside and bool(resting) and not self.cube_held()

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
