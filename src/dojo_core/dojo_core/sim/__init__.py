"""The MuJoCo SO-101 work cell (ROS-free), built from the URDF, and its gymnasium face."""
import os

# MuJoCo picks its OpenGL platform when first imported: default to headless EGL (the cell renders
# offscreen only) unless the user chose another platform.
os.environ.setdefault('MUJOCO_GL', 'egl')

from dojo_core.sim.cell import TASKS, CameraIntrinsics, Observation, SimCell  # noqa: E402
from dojo_core.sim.config import CameraConfig, SimConfig  # noqa: E402

__all__ = ['TASKS', 'CameraConfig', 'CameraIntrinsics', 'Observation', 'SimCell', 'SimConfig']
