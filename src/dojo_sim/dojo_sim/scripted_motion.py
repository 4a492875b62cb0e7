"""scripted_motion: a client node that drives the arm through a joint-space tour and measures the cell.

It is the smallest real user of the sim's ROS interface: it publishes `joint_commands` on a
sim-time timer (so it runs at the sim's pace, whatever the real-time factor), listens to
`joint_states` and both camera streams, and at the end reports the measured control and camera
rates (per sim second from header stamps, and per wall second) and the final tracking error, and
saves the last frame of each camera as a PNG.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, JointState

from dojo_core.kinematics.trajectory import MinJerkPath
from dojo_core.robot.description import JOINT_NAMES
from dojo_ros.image import image_to_numpy
from dojo_ros.joint_state import joint_state_to_vector, vector_to_joint_state
from dojo_ros.params import declare_parameters
from dojo_ros.qos import COMMAND_QOS, SENSOR_QOS

# A tour of the workspace: reach forward-left, down to the table, forward-right, then home-like.
DEFAULT_TOUR = [
    0.6, 0.3, 0.2, 1.0, 0.8, 1.2,
    0.0, 0.9, 0.3, 0.8, 0.0, 0.1,
    -0.6, 0.4, 0.4, 0.9, -0.8, 0.9,
    0.0, -0.6, 0.6, 1.1, 0.0, 0.3,
]


@dataclass
class ScriptedMotionConfig:
    waypoints: list[float] = field(default_factory=lambda: list(DEFAULT_TOUR), metadata={
        'description': f'Joint-space waypoints (rad), flattened, {len(JOINT_NAMES)} values each in the order '
                       f'{list(JOINT_NAMES)}; the tour starts from the measured position.'})
    segment_duration_s: float = field(default=2.0, metadata={
        'description': 'Sim seconds per waypoint-to-waypoint segment (minimum-jerk timing).', 'range': (0.1, 60.0)})
    settle_s: float = field(default=1.0, metadata={
        'description': 'Sim seconds to hold the last waypoint before measuring the final error.',
        'range': (0.0, 60.0)})
    command_rate_hz: float = field(default=30.0, metadata={
        'description': 'joint_commands publish rate in sim time (Hz).', 'range': (1.0, 1000.0)})
    cameras: list[str] = field(default_factory=lambda: ['front', 'wrist'], metadata={
        'description': 'Camera names whose cameras/<name>/image_raw streams are measured and saved.'})
    output_dir: str = field(default='outputs', metadata={
        'description': 'Where the last frame of each camera is saved as <name>.png ("" = do not save).'})

    def __post_init__(self) -> None:
        if not self.waypoints or len(self.waypoints) % len(JOINT_NAMES):
            raise ValueError(f'waypoints must hold a multiple of {len(JOINT_NAMES)} values, '
                             f'got {len(self.waypoints)}')


class _StreamStats:
    """Message count and first/last stamps (sim) and arrival times (wall) of one stream."""

    def __init__(self) -> None:
        self.count = 0
        self.first_stamp = self.last_stamp = 0.0
        self.first_wall = self.last_wall = 0.0

    def add(self, stamp: float) -> None:
        wall = time.monotonic()
        if self.count == 0:
            self.first_stamp, self.first_wall = stamp, wall
        self.count += 1
        self.last_stamp, self.last_wall = stamp, wall

    def rates(self) -> tuple[float, float]:
        """(messages per sim second, messages per wall second) between the first and last message."""
        n = self.count - 1
        sim = n / (self.last_stamp - self.first_stamp) if n > 0 and self.last_stamp > self.first_stamp else 0.0
        wall = n / (self.last_wall - self.first_wall) if n > 0 and self.last_wall > self.first_wall else 0.0
        return sim, wall


class ScriptedMotion(Node):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('parameter_overrides', [Parameter('use_sim_time', value=True)])
        super().__init__('scripted_motion', **kwargs)
        self.cfg = declare_parameters(self, ScriptedMotionConfig)
        self.names = list(JOINT_NAMES)
        self.position: np.ndarray | None = None
        self.path: MinJerkPath | None = None
        self.start_time = 0.0
        self.done = False
        self.final_error: np.ndarray | None = None
        self.joint_stats = _StreamStats()
        self.camera_stats = {name: _StreamStats() for name in self.cfg.cameras}
        self.last_images: dict[str, Image] = {}
        self.command_pub = self.create_publisher(JointState, 'joint_commands', COMMAND_QOS)
        self.create_subscription(JointState, 'joint_states', self._on_joint_states, SENSOR_QOS)
        for name in self.cfg.cameras:
            self.create_subscription(Image, f'cameras/{name}/image_raw',
                                     lambda msg, n=name: self._on_image(n, msg), SENSOR_QOS)
        self.create_timer(1.0 / self.cfg.command_rate_hz, self._on_timer)

    @staticmethod
    def _seconds(msg) -> float:
        return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

    def _on_joint_states(self, msg: JointState) -> None:
        self.position = joint_state_to_vector(msg, self.names)
        self.joint_stats.add(self._seconds(msg))

    def _on_image(self, name: str, msg: Image) -> None:
        self.camera_stats[name].add(self._seconds(msg))
        self.last_images[name] = msg  # decoded only when saved

    def _on_timer(self) -> None:
        if self.position is None or self.done:
            return
        now = self.get_clock().now().nanoseconds * 1e-9
        if self.path is None:
            tour = np.reshape(self.cfg.waypoints, (-1, len(self.names)))
            self.path = MinJerkPath(np.vstack([self.position, tour]), self.cfg.segment_duration_s)
            self.start_time = now
            self.get_logger().info(f'following {len(tour)} waypoints over {self.path.duration:.1f} sim seconds')
        elapsed = now - self.start_time
        target = self.path.sample(elapsed)
        self.command_pub.publish(vector_to_joint_state(self.names, target, stamp=self.get_clock().now().to_msg()))
        if elapsed >= self.path.duration + self.cfg.settle_s:
            self.final_error = self.position - target
            self.done = True

    def report(self) -> dict[str, float]:
        """Measured figures of the run, for printing."""
        sim, wall = self.joint_stats.rates()
        figures = {'control_rate_hz_sim': sim, 'control_rate_hz_wall': wall,
                   'max_final_error_rad': float(np.abs(self.final_error).max()) if self.final_error is not None
                   else float('nan')}
        for name, stats in self.camera_stats.items():
            figures[f'{name}_camera_hz_sim'], figures[f'{name}_camera_hz_wall'] = stats.rates()
        return figures

    def save_images(self) -> list[Path]:
        if not self.cfg.output_dir:
            return []
        from PIL import Image as PILImage

        out = Path(self.cfg.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, image in self.last_images.items():
            path = out / f'{name}.png'
            PILImage.fromarray(image_to_numpy(image)).save(path)
            paths.append(path)
        return paths


def run(node: ScriptedMotion, timeout_s: float) -> bool:
    """Spin `node` until its tour is done (True) or `timeout_s` wall seconds pass (False)."""
    deadline = time.monotonic() + timeout_s
    while rclpy.ok(context=node.context) and not node.done and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    return node.done


def print_report(node: ScriptedMotion) -> None:
    for key, value in node.report().items():
        print(f'  {key:28s} {value:9.3f}')
    for path in node.save_images():
        print(f'  saved {path}')


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    node = ScriptedMotion()
    finished = False
    try:
        finished = run(node, timeout_s=600.0)
        print_report(node)
        if not finished:
            node.get_logger().error('tour did not finish: is sim_node running (joint_states, /clock)?')
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0 if finished else 1


if __name__ == '__main__':
    sys.exit(main())
