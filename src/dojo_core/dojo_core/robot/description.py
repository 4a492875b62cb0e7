"""Where the robot description lives and how to expand it, without ROS.

`urdf/so101.urdf.xacro` is the single source of kinematics: robot_state_publisher, pinocchio and
the MuJoCo cell all read its expansion. dojo_description (a declared dependency of dojo_core)
installs it under `share/dojo_description/urdf/`; this module finds that share directory the way
ament_index does (AMENT_PREFIX_PATH), and also in the running interpreter's prefix, which is where
`pip install` of dojo_description puts it in a venv with no ROS environment sourced.
"""
from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ARM_JOINTS: tuple[str, ...] = ('shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll')
GRIPPER_JOINT = 'gripper'
JOINT_NAMES: tuple[str, ...] = (*ARM_JOINTS, GRIPPER_JOINT)

HARDWARE_TYPES = ('mock', 'topic', 'none')
#: The package whose share directory holds what dojo_core reads (the robot description, the feature
#: maps); dojo_core's package.xml declares it.
DESCRIPTION_PACKAGE = 'dojo_description'


def share_dir(package: str) -> Path:
    """The installed share directory of an ament package (ament_index lookup, ROS not required)."""
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    for prefix in prefixes:
        marker = Path(prefix, 'share', 'ament_index', 'resource_index', 'packages', package)
        if marker.is_file():
            return Path(prefix, 'share', package)
    raise FileNotFoundError(
        f'package {package!r} is not installed: no ament index marker under {prefixes}; '
        'install the workspace (make setup, or colcon build and source install/setup.bash)')


def urdf_xacro_path() -> Path:
    """The installed `so101.urdf.xacro`."""
    return share_dir(DESCRIPTION_PACKAGE) / 'urdf' / 'so101.urdf.xacro'


@lru_cache(maxsize=16)
def _expand(path: str, mappings: tuple[tuple[str, str], ...]) -> str:
    import xacro  # imported here: xacro is heavy and only needed when a description is built

    return xacro.process_file(path, mappings=dict(mappings)).toprettyxml(indent='  ')


def expand_xacro(path: str | os.PathLike | None = None, hardware_type: str = 'none', **args: str) -> str:
    """The URDF text of the robot for a given `hardware_type` (mock | topic | none) and xacro args."""
    if hardware_type not in HARDWARE_TYPES:
        raise ValueError(f'hardware_type must be one of {HARDWARE_TYPES}, got {hardware_type!r}')
    mappings = {'hardware_type': hardware_type, **{k: str(v) for k, v in args.items()}}
    return _expand(str(path or urdf_xacro_path()), tuple(sorted(mappings.items())))


@dataclass(frozen=True)
class JointLimits:
    """Position limits (rad), velocity limits (rad/s) and effort limits (N m), in `names` order."""

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray

    def clamp(self, positions: np.ndarray) -> np.ndarray:
        return np.clip(positions, self.lower, self.upper)

    def subset(self, names: tuple[str, ...]) -> JointLimits:
        """The limits of `names` (a KeyError names a joint these limits lack), in that order."""
        missing = [name for name in names if name not in self.names]
        if missing:
            raise KeyError(f'no limits for joints {missing}; known: {list(self.names)}')
        index = [self.names.index(name) for name in names]
        return JointLimits(tuple(names), self.lower[index], self.upper[index], self.velocity[index],
                           self.effort[index])


def joint_limits(urdf: str, names: tuple[str, ...] = JOINT_NAMES) -> JointLimits:
    """Joint limits of `names` read from URDF text (raises KeyError for a joint the URDF lacks)."""
    root = ET.fromstring(urdf)
    found = {}
    for joint in root.iter('joint'):
        limit = joint.find('limit')
        if joint.get('type') in ('revolute', 'prismatic') and limit is not None:
            found[joint.get('name')] = tuple(float(limit.get(k, 'nan')) for k in ('lower', 'upper', 'velocity', 'effort'))
    missing = [n for n in names if n not in found]
    if missing:
        raise KeyError(f'URDF has no limited joint named {missing}')
    table = np.array([found[n] for n in names], dtype=float)
    return JointLimits(tuple(names), table[:, 0], table[:, 1], table[:, 2], table[:, 3])
