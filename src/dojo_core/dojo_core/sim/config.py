"""Configuration of the simulated SO-101 work cell (plain dataclasses: the node maps them to ROS parameters)."""
from __future__ import annotations

from dataclasses import dataclass, field

from dojo_core.robot.description import JOINT_NAMES


@dataclass
class CameraConfig:
    """One RGB camera of the cell, mounted on the URDF link `<name>_camera_optical_frame`."""

    width: int = field(default=640, metadata={'description': 'Image width in pixels.', 'range': (16, 4096)})
    height: int = field(default=480, metadata={'description': 'Image height in pixels.', 'range': (16, 4096)})
    fovy_deg: float = field(default=60.0, metadata={'description': 'Vertical field of view in degrees.',
                                                    'range': (10.0, 170.0)})
    rate_hz: float = field(default=30.0, metadata={
        'description': 'Frame rate in sim time (Hz); frames are rendered only when one is due.',
        'range': (0.0, 1000.0)})


@dataclass
class SimConfig:
    """Physics, scene and task settings of the pick_place cell."""

    physics_rate_hz: float = field(default=600.0, metadata={
        'description': 'MuJoCo integration rate (Hz).', 'range': (50.0, 5000.0)})
    control_rate_hz: float = field(default=30.0, metadata={
        'description': 'Rate at which joint targets are applied and joint_states published (Hz).',
        'range': (1.0, 1000.0)})
    cube_region: list[float] = field(default_factory=lambda: [0.14, 0.24, -0.08, 0.06], metadata={
        'description': 'Cube spawn region on the table [x_min, x_max, y_min, y_max] in base_link (m); '
                       'position and yaw are drawn uniformly at every reset.'})
    cube_size: float = field(default=0.025, metadata={'description': 'Cube edge length (m).', 'range': (0.01, 0.05)})
    cube_mass: float = field(default=0.02, metadata={'description': 'Cube mass (kg).', 'range': (0.001, 0.5)})
    bin_position: list[float] = field(default_factory=lambda: [0.08, 0.17], metadata={
        'description': 'Bin centre [x, y] on the table in base_link (m).'})
    bin_inner_size: float = field(default=0.09, metadata={'description': 'Inner edge length of the square bin (m).',
                                                          'range': (0.03, 0.3)})
    bin_wall_height: float = field(default=0.035, metadata={'description': 'Bin wall height (m).',
                                                            'range': (0.005, 0.2)})
    home_positions: list[float] = field(default_factory=lambda: [0.0, -0.6, 0.6, 1.1, 0.0, 0.3], metadata={
        'description': f'Arm joint positions after a reset (rad), in the order {list(JOINT_NAMES)}.'})
    front_camera: CameraConfig = field(default_factory=CameraConfig)
    wrist_camera: CameraConfig = field(default_factory=lambda: CameraConfig(width=320, height=240, fovy_deg=75.0, rate_hz=30.0))

    def __post_init__(self) -> None:
        if len(self.cube_region) != 4 or self.cube_region[0] > self.cube_region[1] \
                or self.cube_region[2] > self.cube_region[3]:
            raise ValueError(f'cube_region must be [x_min, x_max, y_min, y_max], got {self.cube_region}')
        if len(self.bin_position) != 2:
            raise ValueError(f'bin_position must be [x, y], got {self.bin_position}')
        if len(self.home_positions) != len(JOINT_NAMES):
            raise ValueError(f'home_positions needs {len(JOINT_NAMES)} values, got {len(self.home_positions)}')
        substeps = self.physics_rate_hz / self.control_rate_hz
        if abs(substeps - round(substeps)) > 1e-6:
            raise ValueError(f'physics_rate_hz ({self.physics_rate_hz}) must be a multiple of control_rate_hz '
                             f'({self.control_rate_hz}) so that every control period is a whole number of steps')

    @property
    def cameras(self) -> dict[str, CameraConfig]:
        return {'front': self.front_camera, 'wrist': self.wrist_camera}
