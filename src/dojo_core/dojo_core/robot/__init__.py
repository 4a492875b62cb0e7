"""The SO-101-class robot as dojo sees it: joint names, limits and the URDF that defines both."""
from dojo_core.robot.description import (
    ARM_JOINTS,
    GRIPPER_JOINT,
    JOINT_NAMES,
    JointLimits,
    expand_xacro,
    joint_limits,
    share_dir,
    urdf_xacro_path,
)

__all__ = [
    'ARM_JOINTS',
    'GRIPPER_JOINT',
    'JOINT_NAMES',
    'JointLimits',
    'expand_xacro',
    'joint_limits',
    'share_dir',
    'urdf_xacro_path',
]
