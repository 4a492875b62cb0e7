"""camera_node: one camera (a V4L2 device, or a video file for tests and replays) on ROS 2.

Publishes ``cameras/<name>/image_raw`` (sensor_msgs/Image, rgb8) and ``cameras/<name>/camera_info``
with the same stamp, the capture time on the node clock, and ``frame_id`` = the camera's optical
frame. The capture runs in dojo_core's CameraCapture thread and a publishing thread hands each new
frame to ROS, so the executor only serves parameters and /diagnostics and a slow or vanished
camera never stalls it. A camera that is missing or unplugged keeps the node up: /diagnostics says
ERROR, the capture re-opens it with backoff, and publishing resumes when it is back.

Stamps come from the node clock. With a real camera keep use_sim_time false (the default): under
sim time, frames of the real world would carry simulated stamps (or zero before /clock starts).

Publishers are reliable, keep last 5: subscriptions with SensorDataQoS (best effort) and reliable
ones (rviz, ros2 topic hz) both hear them.
"""
from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from dojo_core.cameras import CameraCapture, CaptureConfig, CaptureState, camera_info_for
from dojo_ros.camera_info import camera_info_msg
from dojo_ros.diagnostics import DiagnosticsPublisher, RateMeter
from dojo_ros.image import numpy_to_image
from dojo_ros.params import declare_parameters
from dojo_ros.qos import SENSOR_QOS
from dojo_ros.runner import run_node, shut_down_on_crash

#: SENSOR_QOS made reliable: the publisher side of the sensor profile (best-effort and reliable
#: subscriptions both connect to a reliable publisher, not the other way round).
CAMERA_PUBLISHER_QOS = QoSProfile(history=SENSOR_QOS.history, depth=SENSOR_QOS.depth,
                                  reliability=ReliabilityPolicy.RELIABLE, durability=SENSOR_QOS.durability)

_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


@dataclass
class CameraNodeConfig:
    """Node-level settings; what to capture is the CaptureConfig parameters (device, width, ...)."""

    name: str = field(default='camera', metadata={
        'description': 'Camera name: topics are cameras/<name>/image_raw and cameras/<name>/camera_info.',
        'read_only': True})
    frame_id: str = field(default='', metadata={
        'description': 'frame_id of images and camera_info (an optical frame: z forward, x right, y down); '
                       'empty = <name>_camera_optical_frame.',
        'read_only': True})
    camera_info_url: str = field(default='', metadata={
        'description': 'Calibration in camera_calibration YAML: file:///abs/path, package://pkg/path or a '
                       'path; scaled when width/height differ with the same aspect ratio. Empty = an ideal '
                       'pinhole from hfov_deg.',
        'read_only': True})
    hfov_deg: float = field(default=60.0, metadata={
        'description': 'Horizontal field of view (degrees) of the default camera_info, used when '
                       'camera_info_url is empty.',
        'range': (1.0, 179.0), 'read_only': True})
    rate_warn_fraction: float = field(default=0.8, metadata={
        'description': '/diagnostics warns when the capture rate falls below this fraction of fps.',
        'range': (0.0, 1.0), 'read_only': True})

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f'name must be letters, digits and underscores (a topic name token), got {self.name!r}')
        self.frame_id = self.frame_id or f'{self.name}_camera_optical_frame'


class CameraNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('camera_node', **kwargs)
        self.cfg = declare_parameters(self, CameraNodeConfig)
        self.capture_cfg = declare_parameters(self, CaptureConfig)
        cfg, cap = self.cfg, self.capture_cfg
        calibration = camera_info_for(cfg.camera_info_url, cap.width, cap.height, cfg.hfov_deg, cfg.name)
        self.camera_info = camera_info_msg(calibration, cfg.frame_id)
        self.get_logger().info(
            f'camera {cfg.name!r}: {cap.device} at {cap.width}x{cap.height} @ {cap.fps:g} fps, camera_info '
            + (f'from {cfg.camera_info_url}' if cfg.camera_info_url else f'pinhole with {cfg.hfov_deg:g} deg hfov'))

        self.image_pub = self.create_publisher(Image, f'cameras/{cfg.name}/image_raw', CAMERA_PUBLISHER_QOS)
        self.info_pub = self.create_publisher(CameraInfo, f'cameras/{cfg.name}/camera_info', CAMERA_PUBLISHER_QOS)
        self.publish_rate = RateMeter(window_s=2.0)
        self.capture = CameraCapture(cap, clock=lambda: self.get_clock().now().nanoseconds, logger=self.get_logger())
        self.diagnostics = DiagnosticsPublisher(self, hardware_id=f'camera {cap.device}')
        self.diagnostics.add_task(cfg.name, self._diagnose)

        self._running = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name='camera_publishing', daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self.capture.start()
        self._running.set()
        self._thread.start()

    def stop(self) -> bool:
        """Stop publishing and capturing; False if the publishing thread had died of an error (logged)."""
        self._running.clear()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self.capture.stop()
        return self._error is None

    # -- publishing thread ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._running.is_set() and rclpy.ok(context=self.context):
                frame = self.capture.wait_for_frame(timeout_s=0.1)
                if frame is None:
                    continue
                stamp = Time(nanoseconds=frame.stamp_ns).to_msg()
                self.image_pub.publish(numpy_to_image(frame.image, 'rgb8', stamp=stamp, frame_id=self.cfg.frame_id))
                self.camera_info.header.stamp = stamp
                self.info_pub.publish(self.camera_info)
                self.publish_rate.tick(time.monotonic())
        except Exception as exc:  # noqa: BLE001 - a dead publishing thread must take the node down
            if shut_down_on_crash(self, 'camera publishing', exc):
                self._error = exc

    # -- diagnostics ------------------------------------------------------------------------------
    def _diagnose(self) -> tuple[bytes, str, dict[str, object]]:
        s, cap = self.capture.stats(), self.capture_cfg
        values: dict[str, object] = {
            'device': cap.device,
            'state': s.state.value,
            'configured': f'{cap.width}x{cap.height} @ {cap.fps:g} fps',
            'source': s.source,
            'capture_rate_hz': s.fps,
            'publish_rate_hz': self.publish_rate.rate(time.monotonic()),
            'frames': s.frames,
            'dropped_frames': s.dropped,
            'late_frames': s.late,
            'read_failures': s.read_failures,
            'reopen_attempts': s.reopen_attempts,
            'mismatch': s.mismatch,
            'last_error': s.last_error,
        }
        threshold = self.cfg.rate_warn_fraction * cap.fps
        if s.state in (CaptureState.OPENING, CaptureState.RECONNECTING):
            return DiagnosticStatus.ERROR, f'camera unavailable: {s.last_error or "opening"}', values
        if s.state is CaptureState.ENDED:
            return DiagnosticStatus.WARN, 'video file ended (loop is false)', values
        if s.fps < threshold:
            return DiagnosticStatus.WARN, f'capturing at {s.fps:.1f} Hz, below {threshold:g} Hz', values
        if s.mismatch:
            return DiagnosticStatus.WARN, f'camera delivers {s.mismatch}', values
        return DiagnosticStatus.OK, f'streaming at {s.fps:.1f} Hz', values


def main(args: list[str] | None = None) -> int:
    # one executor thread: the capture thread publishes, the executor only serves diagnostics and parameters
    return run_node('camera_node', CameraNode, args, threads=1, errors=(ValueError,))


if __name__ == '__main__':
    sys.exit(main())
