"""The scripted pick-and-place expert: plans a joint motion from the cube pose, ROS-free.

`PickPlaceExpert.plan` turns (joint positions now, cube pose, random generator) into a
`JointPlan`: approach above the cube with the gripper open, descend straight down, close the
gripper, lift straight up, move over the bin, open, retreat straight up. The grasp is top-down
with the jaws square to two cube faces (wrist_roll follows the cube yaw; of the four ways round,
the one needing the least joint motion wins), and the descent points straight down all the way,
so the jaws slide down beside the cube faces. The tool frame `gripper_frame` is where a held
cube's centre sits, pressed against the fixed jaw; the descent stops a few millimetres short of
that jaw so it cannot land on the cube, and closing the moving jaw slides the cube against it.
Once the cube is held, only the tool position is planned (lift and retreat are straight lines of
the tool frame, its orientation free), which keeps those joint paths short and smooth.

Waypoints and segment durations are randomised a little (`ExpertConfig.noise`) so that recorded
demonstrations are not all alike; durations only ever grow, so the velocity and acceleration
limits hold for every draw. A ROS node samples the plan at its control rate; `run_episode`
drives a `SimCell` directly for fast data generation.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pinocchio as pin

from dojo_core.kinematics.cartesian import LineLimits, PlanningError, straight_line
from dojo_core.kinematics.ik import AxisGoal, IKConfig, IKSolver, IKTarget
from dojo_core.kinematics.model import RobotModel
from dojo_core.kinematics.trajectory import JointPlan, Segment
from dojo_core.robot.description import JOINT_NAMES
from dojo_core.sim.config import SimConfig

GRIPPER = JOINT_NAMES.index('gripper')
DOWN = np.array([0.0, 0.0, -1.0])
UP = -DOWN

# The pre-grasp point is lowered in these steps (m) down to this height above the grasp point
# when the tool cannot point straight down higher up.
HEIGHT_STEP = 0.005
MIN_APPROACH_HEIGHT = 0.02

# Phase labels of a plan, in order.
PHASES = ('approach', 'descend', 'grasp', 'lift', 'transfer', 'release', 'retreat')


@dataclass
class ExpertConfig:
    """Waypoints, speeds and randomisation of the scripted pick-and-place."""

    noise: float = field(default=1.0, metadata={
        'description': 'Scales every randomisation (0 = the same plan for the same cube pose).', 'range': (0.0, 2.0)})
    position_noise: float = field(default=0.003, metadata={
        'description': 'Largest random offset of the grasp point at noise 1 (m); the bin drop point gets '
                       'three times this.', 'range': (0.0, 0.01)})
    timing_noise: float = field(default=0.3, metadata={
        'description': 'Largest random slow-down of each segment at noise 1 (fraction of its duration).',
        'range': (0.0, 2.0)})
    approach_height: float = field(default=0.06, metadata={
        'description': 'Height of the pre-grasp point above the grasp point (m).', 'range': (0.02, 0.2)})
    grasp_height: float = field(default=0.012, metadata={
        'description': 'Tool frame height above the cube centre at the grasp (m); keeps the jaw tips off the table.',
        'range': (0.0, 0.03)})
    jaw_clearance: float = field(default=0.005, metadata={
        'description': 'Gap left between the fixed jaw and the cube on the way down (m).', 'range': (0.0, 0.02)})
    lift_height: float = field(default=0.08, metadata={
        'description': 'Tool frame height after the lift (m above the table).', 'range': (0.05, 0.25)})
    release_height: float = field(default=0.075, metadata={
        'description': 'Tool frame height over the bin when the gripper opens (m above the table).',
        'range': (0.04, 0.25)})
    retreat_height: float = field(default=0.03, metadata={
        'description': 'How far the tool rises after the release (m).', 'range': (0.0, 0.2)})
    gripper_open: float = field(default=1.2, metadata={
        'description': 'Gripper position while approaching and after the release (rad).', 'range': (0.5, 1.74)})
    gripper_closed: float = field(default=0.0, metadata={
        'description': 'Gripper target while holding (rad); the jaw stops on the cube before reaching it.',
        'range': (-0.17, 0.5)})
    grip_time: float = field(default=0.35, metadata={
        'description': 'Pause after closing, before lifting (s).', 'range': (0.0, 3.0)})
    release_time: float = field(default=0.3, metadata={
        'description': 'Pause after opening, before retreating (s).', 'range': (0.0, 3.0)})
    speed_scale: float = field(default=0.5, metadata={
        'description': 'Fraction of the URDF joint velocity limits used.', 'range': (0.05, 1.0)})
    joint_acceleration: float = field(default=8.0, metadata={
        'description': 'Joint acceleration limit (rad/s^2).', 'range': (0.1, 100.0)})
    tool_speed: float = field(default=0.15, metadata={
        'description': 'Tool speed limit on straight-line moves (m/s).', 'range': (0.01, 1.0)})
    tool_acceleration: float = field(default=0.6, metadata={
        'description': 'Tool acceleration limit on straight-line moves (m/s^2).', 'range': (0.01, 10.0)})
    bin_position: list[float] = field(default_factory=lambda: list(SimConfig().bin_position), metadata={
        'description': 'Bin centre [x, y] on the table in base_link (m).'})
    grasp_orientation_tolerance: float = field(default=0.002, metadata={
        'description': 'Largest tool orientation error (rad) at the grasp and at the pre-grasp point, so that '
                       'the descent points straight down all the way; far from the base the pre-grasp point '
                       'is lowered until it can.', 'range': (0.0001, 0.1)})
    ik: IKConfig = field(default_factory=IKConfig)


class PickPlaceExpert:
    """Plans pick-and-place motions for one robot model; `plan` is cheap enough to call per episode."""

    def __init__(self, model: RobotModel, config: ExpertConfig | None = None):
        self.model = model
        self.config = config or ExpertConfig()
        cfg = self.config
        self.ik = IKSolver(model, cfg.ik)
        # Top-down poses are solved first from the warm start alone (cheap, and the answer stays
        # close to it), and only when that fails with random restarts (costly when out of reach).
        top_down = dataclasses.replace(cfg.ik, orientation_tolerance=cfg.grasp_orientation_tolerance)
        self.top_down_ik = IKSolver(model, dataclasses.replace(top_down, restarts=0))
        self.top_down_ik_restarts = IKSolver(model, top_down)
        velocity = model.limits.velocity * cfg.speed_scale
        self._joint_limits = (velocity, cfg.joint_acceleration)
        self._line = LineLimits(cfg.tool_speed, cfg.tool_acceleration, velocity, cfg.joint_acceleration)

    def plan(self, q_now: np.ndarray, cube_pose: tuple[np.ndarray, np.ndarray],
             rng: np.random.Generator) -> JointPlan:
        """The whole pick-and-place from `q_now` (JOINT_NAMES order, rad) for a cube at
        `cube_pose` = (position (m), quaternion w, x, y, z) in base_link; raises PlanningError."""
        cfg = self.config
        q_now = np.asarray(q_now, dtype=float)
        if q_now.shape != (len(JOINT_NAMES),) or not np.all(np.isfinite(q_now)):
            raise PlanningError(f'q_now must be {len(JOINT_NAMES)} finite joint positions, got {q_now!r}')
        cube_position, cube_rotation = _cube_frame(*cube_pose)

        def jitter(scale: float, size: int | None = None):
            return rng.uniform(-1.0, 1.0, size) * scale * cfg.noise

        start = self.model.limits.clamp(q_now)
        grasp, pre_grasp = self._grasp(start, cube_position, cube_rotation, jitter(cfg.position_noise, 2),
                                       cfg.approach_height + jitter(cfg.position_noise))
        pre_grasp[GRIPPER] = cfg.gripper_open
        segments = [self._joint_move(start, pre_grasp, 'approach'),
                    straight_line(self.ik, pre_grasp, grasp, self._line, 'descend')]
        segments += self._gripper(segments[-1].end, cfg.gripper_closed, cfg.grip_time, 'grasp')
        lifted = np.array([*grasp.position[:2], cfg.lift_height + jitter(cfg.position_noise)])
        segments.append(straight_line(self.ik, segments[-1].end, IKTarget(lifted), self._line, 'lift'))
        drop = np.array([*(np.asarray(cfg.bin_position, dtype=float) + jitter(3 * cfg.position_noise, 2)),
                         cfg.release_height + jitter(cfg.position_noise)])
        release = self.ik.solve(_pointing_down(drop), segments[-1].end)
        if not release.success:
            raise PlanningError(f'over the bin: {release.reason}')
        over_bin = release.q
        segments.append(self._joint_move(segments[-1].end, over_bin, 'transfer'))
        segments += self._gripper(over_bin, cfg.gripper_open, cfg.release_time, 'release')
        segments.append(straight_line(self.ik, segments[-1].end, IKTarget(drop + UP * cfg.retreat_height),
                                      self._line, 'retreat'))
        return JointPlan([dataclasses.replace(s, duration=s.duration * (1.0 + abs(jitter(cfg.timing_noise))))
                          for s in segments])

    # -- waypoints ---------------------------------------------------------------------------------
    def _grasp(self, start: np.ndarray, cube_position: np.ndarray, cube_rotation: np.ndarray,
               offset: np.ndarray, approach_height: float) -> tuple[IKTarget, np.ndarray]:
        """The grasp target and the pre-grasp configuration above it. The tool points down with the
        jaws square to a pair of cube faces; of the four ways round, the one needing the least joint
        motion from `start` whose straight descent is reachable wins."""
        cfg = self.config
        for ik in (self.top_down_ik, self.top_down_ik_restarts):
            candidates = []
            for normal in _face_normals(cube_rotation):
                position = cube_position + UP * cfg.grasp_height - normal * cfg.jaw_clearance
                position[:2] += offset
                target = IKTarget(position, rotation=np.column_stack([DOWN, normal, np.cross(DOWN, normal)]))
                result = ik.solve(target, start)
                if result.success:
                    candidates.append((float(np.abs(result.q - start).sum()), target, result.q))
            for _, target, q in sorted(candidates, key=lambda candidate: candidate[0]):
                pre_grasp = self._pre_grasp(target, q, approach_height)
                if pre_grasp is not None:
                    return target, pre_grasp
        raise PlanningError(f'no top-down grasp reaches the cube at {np.round(cube_position, 3).tolist()} m')

    def _pre_grasp(self, grasp: IKTarget, grasp_q: np.ndarray, height: float) -> np.ndarray | None:
        """The configuration `height` above the grasp, or as high below that as the tool can still
        point straight down (None if not even MIN_APPROACH_HEIGHT): far from the base the wrist
        reaches its limit higher up, and a descent that starts at the limit and then leaves it has
        a corner in joint space (slow to time). Solved from the grasp only: a random restart would
        land on another arm configuration, with no straight descent to the grasp."""
        for h in np.arange(height, MIN_APPROACH_HEIGHT - 1e-9, -HEIGHT_STEP):
            result = self.top_down_ik.solve(dataclasses.replace(grasp, position=grasp.position + UP * h), grasp_q)
            if result.success:
                return result.q
        return None

    # -- segments ----------------------------------------------------------------------------------
    def _joint_move(self, start: np.ndarray, end: np.ndarray, label: str) -> Segment:
        return Segment.within_limits(np.stack([start, end]), *self._joint_limits, label)

    def _gripper(self, q: np.ndarray, position: float, pause: float, label: str) -> list[Segment]:
        """Move only the gripper to `position`, then hold still for `pause` seconds."""
        end = q.copy()
        end[GRIPPER] = position
        segments = [self._joint_move(q, end, label)]
        if pause > 0:
            segments.append(Segment(np.stack([end, end]), pause, label))
        return segments


def _pointing_down(position: np.ndarray) -> IKTarget:
    """Tool at `position` with its approach axis (x) down, any rotation about it."""
    return IKTarget(position, axes=(AxisGoal((1.0, 0.0, 0.0), tuple(DOWN)),))


def _cube_frame(position, quaternion_wxyz) -> tuple[np.ndarray, np.ndarray]:
    position = np.asarray(position, dtype=float)
    q = np.asarray(quaternion_wxyz, dtype=float)
    if position.shape != (3,) or q.shape != (4,) or not np.all(np.isfinite(position)) \
            or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-9:
        raise PlanningError(f'cube pose must be a position (3) and a quaternion w, x, y, z (4), '
                            f'got {position!r}, {q!r}')
    q = q / np.linalg.norm(q)
    return position, pin.Quaternion(*q).toRotationMatrix()


def _face_normals(rotation: np.ndarray) -> list[np.ndarray]:
    """The four horizontal directions square to the cube's upright faces (the two cube axes
    closest to horizontal, both signs), unit length."""
    axes = sorted(rotation.T, key=lambda axis: abs(axis[2]))[:2]
    normals = []
    for axis in axes:
        flat = np.array([axis[0], axis[1], 0.0])
        flat /= np.linalg.norm(flat)
        normals += [flat, -flat]
    return normals
