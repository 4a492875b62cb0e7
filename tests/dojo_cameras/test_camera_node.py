"""camera_node in its own process, reading a generated video file, checked through real ROS topics."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from dojo_core.cameras.pattern import read_frame_counter, write_pattern_video
from dojo_ros.image import image_to_numpy
from dojo_ros.process import NodeProcess
from dojo_ros.qos import SENSOR_QOS

pytestmark = pytest.mark.slow  # camera_node as a subprocess, rates measured in real time

REPO = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO / 'config' / 'cameras' / 'camera_node.yaml'
CALIBRATION = REPO / 'config' / 'cameras' / 'front.yaml'   # 640x480, streamed at 160x120: scaled by 1/4
FPS = 30.0
NAMESPACE = '/arm1'
TOPIC = f'{NAMESPACE}/cameras/front'


class Probe(Node):
    """Records every message of the topics it is asked to listen to, with the time it arrived."""

    def __init__(self) -> None:
        super().__init__('camera_probe')
        self.received: dict[str, list[tuple[float, object]]] = {}
        self.listen('/diagnostics', DiagnosticArray)

    def listen(self, topic: str, kind: type) -> None:
        self.received[topic] = []
        qos = 10 if topic == '/diagnostics' else SENSOR_QOS
        self.create_subscription(kind, topic, lambda m: self.received[topic].append((time.monotonic(), m)), qos)

    def messages(self, topic: str) -> list:
        return [m for _, m in self.received[topic]]

    def spin_until(self, predicate: Callable[[], bool], timeout_s: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.02)
            if predicate():
                return True
        return False

    def statuses(self, name: str) -> list[DiagnosticStatus]:
        return [s for array in self.messages('/diagnostics') for s in array.status if s.name == name]


def values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


@pytest.fixture(scope='module')
def video(tmp_path_factory) -> Path:
    """Three seconds of 160x120 pattern at 30 fps; the node loops it."""
    return write_pattern_video(tmp_path_factory.mktemp('video') / 'pattern.avi', 160, 120, FPS, 90)


@pytest.fixture(scope='module')
def camera(video, tmp_path_factory, ros_domain):
    """camera_node under a namespace with the shipped parameter file, overridden to read the video."""
    log = tmp_path_factory.mktemp('camera') / 'camera_node.log'
    node = NodeProcess('dojo_cameras.camera_node', params_file=PARAMS_FILE, log_path=log,
                       parameters={'name': 'front', 'device': str(video), 'width': 160, 'height': 120, 'fps': FPS,
                                   'camera_info_url': f'file://{CALIBRATION}'},
                       ros_args=['-r', f'__ns:={NAMESPACE}']).start()
    yield node
    code = node.stop()
    assert code == 0, f'camera_node exited with {code}; log:\n{log.read_text()}'


@pytest.fixture(scope='module')
def probe(camera):
    rclpy.init()
    node = Probe()
    node.listen(f'{TOPIC}/image_raw', Image)
    node.listen(f'{TOPIC}/camera_info', CameraInfo)
    assert node.spin_until(lambda: len(node.messages(f'{TOPIC}/image_raw')) >= 5, 60), \
        f'no images from camera_node; log:\n{camera.log_path.read_text()}'
    yield node
    node.destroy_node()
    rclpy.shutdown()


def test_images_are_rgb8_of_the_configured_size_in_the_optical_frame(probe):
    images = probe.messages(f'{TOPIC}/image_raw')
    for msg in images:
        assert (msg.width, msg.height, msg.encoding, msg.step) == (160, 120, 'rgb8', 3 * 160)
        assert msg.header.frame_id == 'front_camera_optical_frame'
        r, g, b = image_to_numpy(msg)[100, 10]
        assert r > 200 and g < 50 and b < 50, f'pure red arrived as ({r}, {g}, {b}): channels swapped'
    # frames arrive in order, stamped at capture time: counters step forward (modulo the 90-frame loop)
    counters = [read_frame_counter(image_to_numpy(m)) for m in images]
    steps = [(b - a) % 90 for a, b in zip(counters, counters[1:])]
    assert all(0 < s < 10 for s in steps), counters
    stamps = [seconds(m.header.stamp) for m in images]
    assert all(a < b for a, b in zip(stamps, stamps[1:])) and abs(stamps[-1] - time.time()) < 10


def test_camera_info_is_the_calibration_file_scaled_and_stamped_like_the_image(probe):
    assert probe.spin_until(lambda: len(probe.messages(f'{TOPIC}/camera_info')) >= 3)
    info = probe.messages(f'{TOPIC}/camera_info')[-1]
    raw = yaml.safe_load(CALIBRATION.read_text())
    fx, _, cx, _, fy, cy, *_ = raw['camera_matrix']['data']
    s = 160 / raw['image_width']
    assert (info.width, info.height, info.header.frame_id) == (160, 120, 'front_camera_optical_frame')
    assert list(info.k) == pytest.approx([fx * s, 0, (cx + 0.5) * s - 0.5, 0, fy * s, (cy + 0.5) * s - 0.5, 0, 0, 1])
    assert info.distortion_model == raw['distortion_model']
    assert list(info.d) == raw['distortion_coefficients']['data']
    assert list(info.r) == raw['rectification_matrix']['data']
    pfx, pfy = raw['projection_matrix']['data'][0], raw['projection_matrix']['data'][5]
    assert (info.p[0], info.p[5]) == pytest.approx((pfx * s, pfy * s))
    image_stamps = {seconds(m.header.stamp) for m in probe.messages(f'{TOPIC}/image_raw')}
    info_stamps = {seconds(m.header.stamp) for m in probe.messages(f'{TOPIC}/camera_info')}
    assert len(image_stamps & info_stamps) >= 2, 'camera_info must carry the stamp of its image'


def test_images_arrive_near_the_configured_rate(probe):
    """A functional check, not a benchmark (benchmarks/camera_rate.py measures): 50%..150% of fps."""
    topic = f'{TOPIC}/image_raw'
    start = len(probe.received[topic])
    probe.spin_until(lambda: False, 2.0)
    arrivals = [t for t, _ in probe.received[topic][start:]]
    assert len(arrivals) >= 10
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert 0.5 * FPS < rate < 1.5 * FPS, f'{rate:.1f} Hz'


def test_diagnostics_report_rate_and_frame_counters(probe):
    name = 'camera_node: front'
    assert probe.spin_until(lambda: any(s.level == DiagnosticStatus.OK for s in probe.statuses(name)), 20), \
        [(s.level, s.message) for s in probe.statuses(name)]
    status = [s for s in probe.statuses(name) if s.level == DiagnosticStatus.OK][-1]
    found = values(status)
    assert status.hardware_id.startswith('camera ') and status.message.startswith('streaming at')
    assert found['state'] == 'streaming' and found['source'].startswith('160x120')
    assert found['configured'] == '160x120 @ 30 fps'
    assert 0.5 * FPS < float(found['capture_rate_hz']) < 1.5 * FPS
    assert float(found['publish_rate_hz']) > 0 and int(found['frames']) > 0
    for key in ('dropped_frames', 'late_frames', 'read_failures', 'reopen_attempts'):
        assert int(found[key]) >= 0


def test_missing_file_keeps_the_node_up_with_an_error_until_the_file_appears(probe, tmp_path):
    target = tmp_path / 'later.avi'
    with NodeProcess('dojo_cameras.camera_node', log_path=tmp_path / 'log',
                     parameters={'name': 'late', 'device': str(target), 'width': 160, 'height': 120, 'fps': FPS,
                                 'reopen_interval_s': 0.1, 'reopen_max_interval_s': 0.5},
                     ros_args=['-r', '__node:=late_camera']) as late:
        probe.listen('cameras/late/image_raw', Image)
        status = 'late_camera: late'

        def retrying() -> list[DiagnosticStatus]:
            return [s for s in probe.statuses(status) if s.level == DiagnosticStatus.ERROR
                    and s.message == f'camera unavailable: video file {target} does not exist'
                    and int(values(s)['reopen_attempts']) >= 1]

        assert probe.spin_until(lambda: len(retrying()) >= 1, 30), (tmp_path / 'log').read_text()
        assert late.alive() and not probe.messages('cameras/late/image_raw')

        write_pattern_video(tmp_path / 'staging.avi', 160, 120, FPS, 30).rename(target)
        assert probe.spin_until(lambda: len(probe.messages('cameras/late/image_raw')) >= 3, 20), \
            (tmp_path / 'log').read_text()
        assert probe.spin_until(lambda: probe.statuses(status)[-1].level != DiagnosticStatus.ERROR, 10)
        assert late.alive()


def test_a_broken_calibration_file_stops_the_node_with_a_clear_message(tmp_path, video):
    broken = tmp_path / 'broken.yaml'
    broken.write_text(CALIBRATION.read_text().replace('distortion_model: plumb_bob', 'distortion_model: fisheye62'))
    node = NodeProcess('dojo_cameras.camera_node', log_path=tmp_path / 'log',
                       parameters={'device': str(video), 'camera_info_url': str(broken)},
                       ros_args=['-r', '__node:=broken_camera'])
    node.start()
    try:
        node.process.wait(30)
    finally:
        code = node.stop()
    log = (tmp_path / 'log').read_text()
    assert code == 1, log
    assert f"camera_info file {broken}: distortion_model 'fisheye62' is not one of" in log
    assert 'Traceback' not in log
