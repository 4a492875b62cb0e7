"""camera_node throughput at 640x480 from a generated video file: frames/s achieved and CPU use.

Prints figures, asserts nothing: `python benchmarks/camera_rate.py`. Two parts:

* capture alone (dojo_core CameraCapture, no ROS) asked for 1000 fps: the ceiling of decoding
  Motion-JPEG and converting BGR->RGB on this machine;
* camera_node in its own process at each ``--fps``, with two subscriptions in this process
  counting the images that arrive, one best effort (SensorDataQoS) and one reliable; CPU % of the
  node process (100 % = one core) and of the subscriber, and the node's own capture/publish rates
  and dropped/late frames from /diagnostics.

Why both subscriptions: a 640x480 rgb8 image is 921 KB, more than Fast DDS's default shared-memory
segment (512 KB) holds, and with the default transports a best-effort reader on the same machine
loses most such images (nothing is resent), while a reliable reader gets them all. The gap between
the two figures is that transport loss, not the node. A Fast DDS profile with a larger SHM segment
closes it (FASTRTPS_DEFAULT_PROFILES_FILE pointing at a profile whose SHM transport descriptor has
``<segment_size>10485760</segment_size>``, UDPv4 kept for other hosts).

A video file stands in for the camera: the node paces it at ``fps`` exactly as a device would
deliver frames, so the figures are the cost of the node, not of a camera's USB link.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import psutil

os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 101))
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

import rclpy  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from dojo_core.cameras import CameraCapture, CaptureConfig  # noqa: E402
from dojo_core.cameras.pattern import write_pattern_video  # noqa: E402
from dojo_ros.process import NodeProcess  # noqa: E402
from dojo_ros.qos import SENSOR_QOS  # noqa: E402

WIDTH, HEIGHT = 640, 480
RELIABLE_QOS = QoSProfile(depth=SENSOR_QOS.depth, reliability=ReliabilityPolicy.RELIABLE)


def capture_alone(video: Path, seconds: float) -> None:
    me = psutil.Process()
    config = CaptureConfig(device=str(video), width=WIDTH, height=HEIGHT, fps=1000.0)
    with CameraCapture(config) as capture:
        capture.wait_for_frame(timeout_s=10.0)
        me.cpu_percent(None)
        frames, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            frames += capture.wait_for_frame(timeout_s=1.0) is not None
        elapsed = time.monotonic() - start
        cpu = me.cpu_percent(None)
    print(f'capture alone {WIDTH}x{HEIGHT} MJPG -> RGB: {frames / elapsed:.0f} frames/s '
          f'({1e3 * elapsed / max(frames, 1):.1f} ms/frame), CPU {cpu:.0f} %')


def node_rate(video: Path, fps: float, seconds: float, log: Path) -> None:
    parameters = {'name': 'bench', 'device': str(video), 'width': WIDTH, 'height': HEIGHT, 'fps': fps}
    with NodeProcess('dojo_cameras.camera_node', parameters=parameters, log_path=log) as node:
        sub = rclpy.create_node('camera_rate_probe')
        arrivals: dict[str, list[float]] = {'best effort': [], 'reliable': []}
        latest: dict[str, str] = {}
        for qos, times in zip((SENSOR_QOS, RELIABLE_QOS), arrivals.values()):
            sub.create_subscription(Image, 'cameras/bench/image_raw', lambda _, t=times: t.append(time.monotonic()),
                                    qos)

        def on_diagnostics(array: DiagnosticArray) -> None:
            for status in array.status:
                if status.name == 'camera_node: bench':
                    latest.update({kv.key: kv.value for kv in status.values}, message=status.message)

        sub.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
        deadline = time.monotonic() + 30
        while not all(arrivals.values()) and time.monotonic() < deadline:
            rclpy.spin_once(sub, timeout_sec=0.1)
        if not all(arrivals.values()):
            print(f'fps {fps:g}: no images within 30 s; log:\n{log.read_text()}')
            return
        node_proc, me = psutil.Process(node.process.pid), psutil.Process()
        node_proc.cpu_percent(None)
        me.cpu_percent(None)
        start, first = time.monotonic(), {k: len(v) for k, v in arrivals.items()}
        while time.monotonic() - start < seconds:
            rclpy.spin_once(sub, timeout_sec=0.05)
        elapsed = time.monotonic() - start
        received = ', '.join(f'{k} {(len(v) - first[k]) / elapsed:.1f}' for k, v in arrivals.items())
        node_cpu, sub_cpu = node_proc.cpu_percent(None), me.cpu_percent(None)
        sub.destroy_node()
    print(f'camera_node {WIDTH}x{HEIGHT} @ {fps:g} fps: received frames/s: {received}; '
          f'node CPU {node_cpu:.0f} %, subscriber CPU {sub_cpu:.0f} %; node reports capture '
          f'{latest.get("capture_rate_hz", "?")} Hz, publish {latest.get("publish_rate_hz", "?")} Hz, '
          f'dropped {latest.get("dropped_frames", "?")}, late {latest.get("late_frames", "?")} '
          f'of {latest.get("frames", "?")} frames')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--fps', type=float, nargs='+', default=[30.0, 60.0, 1000.0],
                        help='camera_node fps settings to measure (1000 = as fast as it goes)')
    parser.add_argument('--seconds', type=float, default=5.0, help='measurement time per setting')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        video = write_pattern_video(Path(tmp) / 'pattern.avi', WIDTH, HEIGHT, 30.0, 90)
        print(f'{os.cpu_count()} CPU cores; video: {video.stat().st_size / 1e6:.1f} MB, 90 frames MJPG')
        capture_alone(video, args.seconds)
        rclpy.init()
        try:
            for fps in args.fps:
                node_rate(video, fps, args.seconds, Path(tmp) / f'camera_node_{fps:g}.log')
        finally:
            rclpy.shutdown()


if __name__ == '__main__':
    main()
