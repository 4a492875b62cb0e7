"""The `moveit` IK backend of ik_node: MoveIt's kinematics plugin (moveit_py) behind IKSolver's interface.

moveit_py ships with ROS (apt `ros-jazzy-moveit-py`), not on PyPI, so this module imports it only
when the backend is chosen and says how to get it when it is missing. The planning group and its
tip link come from config/moveit/so101.srdf, the solver from config/moveit/kinematics.yaml (see
config/moveit/README.md). Whatever MoveIt answers is checked with dojo's pinocchio model of the
same URDF: the result is an `IKResult` with the same success rule (position tolerance) and error
figures as the pinocchio backend, so ik_node and the straight-line planner treat both alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pinocchio as pin
import yaml
from geometry_msgs.msg import Pose

from dojo_core.kinematics.ik import IKConfig, IKResult, IKTarget
from dojo_core.kinematics.model import RobotModel
from dojo_core.robot.description import share_dir


class BackendUnavailable(RuntimeError):
    """The chosen IK backend cannot run here; the message says what is missing."""


@dataclass
class MoveItConfig:
    """Where the moveit backend finds its planning group and solver."""

    group: str = field(default='arm', metadata={
        'description': 'MoveIt planning group solved for (a chain from base_link to the tip frame in the SRDF).',
        'read_only': True})
    config_dir: str = field(default='', metadata={
        'description': 'Folder with so101.srdf, kinematics.yaml and moveit_py.yaml; empty = config/moveit of '
                       'dojo_bringup.', 'read_only': True})
    timeout_s: float = field(default=0.05, metadata={
        'description': 'Time limit of one MoveIt IK solve (s).', 'range': (0.001, 10.0)})


def moveit_parameters(model: RobotModel, config_dir: Path) -> dict:
    """The parameters MoveItPy needs: robot description, SRDF, kinematics and its own options."""
    params = yaml.safe_load((config_dir / 'moveit_py.yaml').read_text()) or {}
    params.update({
        'robot_description': model.urdf,
        'robot_description_semantic': (config_dir / 'so101.srdf').read_text(),
        'robot_description_kinematics': yaml.safe_load((config_dir / 'kinematics.yaml').read_text()),
    })
    return params


class MoveItIK:
    """`solve(target, q_seed) -> IKResult` through moveit_py's `RobotState.set_from_ik`.

    Targets are a position and an optional rotation (axis goals are pinocchio-only). Whether the
    rotation counts is the kinematics plugin's business: config/moveit/kinematics.yaml sets
    `position_only_ik` for the five-joint arm, so the solver reaches the position; the node's
    position_only parameter then only changes what orientation error is reported.
    """

    def __init__(self, model: RobotModel, ik_config: IKConfig, config: MoveItConfig, tip_frame: str,
                 node_name: str) -> None:
        try:
            from moveit.core.robot_state import RobotState
            from moveit.planning import MoveItPy
        except ImportError as exc:
            raise BackendUnavailable(
                f"ik_backend 'moveit' needs moveit_py, which is not importable here ({exc}); install "
                "ros-<distro>-moveit-py with apt (there is no PyPI wheel) and source ROS, or use "
                "ik_backend:=pinocchio") from exc
        config_dir = Path(config.config_dir) if config.config_dir else share_dir('dojo_bringup') / 'config' / 'moveit'
        self.model = model
        self.config = ik_config
        self.timeout_s = config.timeout_s
        self.group = config.group
        self.tip_frame = tip_frame
        self._moveit = MoveItPy(node_name=node_name, config_dict=moveit_parameters(model, config_dir))
        robot_model = self._moveit.get_robot_model()
        if not robot_model.has_joint_model_group(config.group):
            raise BackendUnavailable(f'the SRDF in {config_dir} has no planning group {config.group!r}')
        names = list(robot_model.get_joint_model_group(config.group).active_joint_model_names)
        joint_names = [model.model.names[i] for i in range(1, model.model.njoints)]
        self._active = np.array([joint_names.index(n) for n in names])
        self._state = RobotState(robot_model)

    def solve(self, target: IKTarget, q_seed: np.ndarray) -> IKResult:
        seed = self.model.limits.clamp(np.asarray(q_seed, dtype=float))
        if target.axes or target.frame != self.tip_frame:
            return IKResult(False, seed, math.inf, math.inf, 0,
                            f'the moveit backend solves for {self.tip_frame!r} with a position and a rotation only')
        rotation = target.rotation if target.rotation is not None else self.model.fk(seed, target.frame)[1]
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in target.position)
        w, x, y, z = pin.Quaternion(np.asarray(rotation, dtype=float)).coeffs()[[3, 0, 1, 2]]
        pose.orientation.w, pose.orientation.x, pose.orientation.y, pose.orientation.z = \
            float(w), float(x), float(y), float(z)
        self._state.set_joint_group_positions(self.group, seed[self._active].tolist())
        found = self._state.set_from_ik(self.group, pose, self.tip_frame, self.timeout_s)
        q = seed.copy()
        q[self._active] = np.asarray(self._state.get_joint_group_positions(self.group), dtype=float)
        q = self.model.limits.clamp(q)
        position, achieved = self.model.fk(q, target.frame)
        position_error = float(np.linalg.norm(position - np.asarray(target.position, dtype=float)))
        orientation_error = 0.0 if target.rotation is None else \
            float(np.linalg.norm(pin.log3(np.asarray(target.rotation, dtype=float) @ achieved.T)))
        success = found and position_error <= self.config.position_tolerance
        if success:
            reason = 'converged (moveit)'
        elif not found:
            reason = f'MoveIt found no IK solution in {self.timeout_s:g} s: target out of reach or beyond the limits'
        else:
            reason = f'MoveIt solution is {position_error:.4g} m off the target (tolerance ' \
                     f'{self.config.position_tolerance:.4g} m)'
        return IKResult(success, q if found else seed, position_error, orientation_error, 0, reason)
