"""The SO-101 kinematic model for planning: pinocchio loaded from the same URDF expansion as the sim.

Loading the one URDF that robot_state_publisher and the MuJoCo cell also read is what keeps IK
answers and simulated or real joint positions in agreement (tests/dojo_core/test_sim_cell.py checks
pinocchio against MuJoCo to 1 mm). Configurations are full `JOINT_NAMES` vectors (5 arm joints
and the gripper), in radians, in the order the rest of dojo uses.
"""
from __future__ import annotations

import numpy as np
import pinocchio as pin

from dojo_core.robot.description import JOINT_NAMES, JointLimits, expand_xacro, joint_limits

TOOL_FRAME = 'gripper_frame'


class RobotModel:
    """Forward kinematics, frame Jacobians and joint limits of the arm, in the `base_link` frame.

    One instance holds one pinocchio Data buffer, so it is not safe to share between threads:
    give each thread its own model (construction takes milliseconds once the URDF is expanded).
    """

    def __init__(self, urdf: str | None = None):
        self.urdf = urdf or expand_xacro(hardware_type='none')
        self.model = pin.buildModelFromXML(self.urdf)
        self.data = self.model.createData()
        names = tuple(self.model.names[i] for i in range(1, self.model.njoints))
        if names != JOINT_NAMES or self.model.nq != len(JOINT_NAMES):
            raise ValueError(f'URDF joints {names} are not the one-DoF joints {JOINT_NAMES} in that order')
        self.limits: JointLimits = joint_limits(self.urdf)
        self._frame_ids: dict[str, int] = {}

    @property
    def dof(self) -> int:
        return self.model.nq

    def frame_id(self, frame: str) -> int:
        """pinocchio id of a URDF link or joint frame (KeyError naming the frame when there is none)."""
        if frame not in self._frame_ids:
            if not self.model.existFrame(frame):
                raise KeyError(f'the robot model has no frame {frame!r}')
            self._frame_ids[frame] = self.model.getFrameId(frame)
        return self._frame_ids[frame]

    def _configuration(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if q.shape != (self.dof,) or not np.all(np.isfinite(q)):
            raise ValueError(f'q must be {self.dof} finite joint positions in {JOINT_NAMES} order, got {q!r}')
        return q

    def fk(self, q: np.ndarray, frame: str = TOOL_FRAME) -> tuple[np.ndarray, np.ndarray]:
        """Position (m) and rotation matrix of `frame` in base_link at configuration q."""
        fid = self.frame_id(frame)
        pin.forwardKinematics(self.model, self.data, self._configuration(q))
        placement = pin.updateFramePlacement(self.model, self.data, fid)
        return placement.translation.copy(), placement.rotation.copy()

    def jacobian(self, q: np.ndarray, frame: str = TOOL_FRAME) -> np.ndarray:
        """6 x dof Jacobian of `frame`: rows 0-2 the velocity of its origin, rows 3-5 its angular
        velocity, both expressed in base_link axes (pinocchio LOCAL_WORLD_ALIGNED)."""
        fid = self.frame_id(frame)
        return pin.computeFrameJacobian(self.model, self.data, self._configuration(q), fid,
                                        pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)

    def fk_and_jacobian(self, q: np.ndarray, frame: str = TOOL_FRAME) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Position, rotation and Jacobian in one kinematics pass (what an IK iteration needs)."""
        fid = self.frame_id(frame)
        J = pin.computeFrameJacobian(self.model, self.data, self._configuration(q), fid,
                                     pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)
        placement = pin.updateFramePlacement(self.model, self.data, fid)
        return placement.translation.copy(), placement.rotation.copy(), J

    def random_configuration(self, rng: np.random.Generator) -> np.ndarray:
        """A configuration drawn uniformly within the joint limits."""
        return rng.uniform(self.limits.lower, self.limits.upper)

    def within_limits(self, q: np.ndarray, tolerance: float = 0.0) -> bool:
        q = np.asarray(q, dtype=float)
        return bool(np.all(q >= self.limits.lower - tolerance) and np.all(q <= self.limits.upper + tolerance))
