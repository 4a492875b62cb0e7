"""The MuJoCo SO-101 work cell (ROS-free), built from the URDF, and its gymnasium face."""
from dojo_core.sim.cell import TASKS, CameraIntrinsics, Observation, SimCell
from dojo_core.sim.config import CameraConfig, SimConfig

__all__ = ['TASKS', 'CameraConfig', 'CameraIntrinsics', 'Observation', 'SimCell', 'SimConfig']
