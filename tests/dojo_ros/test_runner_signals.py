"""Nodes run by dojo_ros.runner end cleanly (exit 0, no traceback) however many signals arrive while they stop.

`ros2 launch` forwards the terminal's Ctrl-C, so a node gets SIGINT twice a few ms apart, and
SIGTERM if it is slow to exit. Each case starts the real node process (python -m), waits until it
publishes, sends two signals at several gaps and reads its log. The hardware nodes, whose servo
registers say more, are tested in tests/dojo_hardware/test_shutdown_signals.py.
"""
from __future__ import annotations

import signal
import time

import pytest
import rclpy
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from dojo_core.cameras.pattern import write_pattern_video
from dojo_core.robot.description import share_dir
from dojo_ros.process import NodeProcess
from dojo_ros.qos import CLOCK_QOS, SENSOR_QOS

pytestmark = pytest.mark.slow  # sim_node and camera_node processes sent two signals

SIGNAL_PAIRS = [(signal.SIGINT, signal.SIGINT), (signal.SIGINT, signal.SIGTERM)]
GAPS_S = (0.003, 0.01, 0.03)
SIM_PARAMS = {'real_time_factor': 1.0, 'front_camera.width': 160, 'front_camera.height': 120,
              'wrist_camera.width': 96, 'wrist_camera.height': 64}


@pytest.fixture(scope='module')
def probe(ros_domain):
    rclpy.init()
    node = Node('signals_probe')
    yield node
    node.destroy_node()
    rclpy.shutdown()


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return write_pattern_video(tmp_path_factory.mktemp('video') / 'pattern.avi', 160, 120, 30.0, 30)


def node_process(kind: str, video, log) -> tuple[NodeProcess, str, type, object]:
    """The node process (not started yet), and the topic whose first message says it is running."""
    if kind == 'sim_node':
        return (NodeProcess('dojo_sim.sim_node', params_file=share_dir('dojo_bringup') / 'config' / 'sim.yaml',
                            parameters=SIM_PARAMS, log_path=log), '/clock', Clock, CLOCK_QOS)
    return (NodeProcess('dojo_cameras.camera_node', parameters={'name': 'front', 'device': str(video)}, log_path=log),
            'cameras/front/image_raw', Image, SENSOR_QOS)


@pytest.mark.parametrize('first, second', SIGNAL_PAIRS, ids=lambda s: s.name)
@pytest.mark.parametrize('kind', ['sim_node', 'camera_node'])
def test_two_signals_end_the_node_cleanly(kind, first, second, probe, video, signal_twice, tmp_path):
    for gap_s in GAPS_S:
        log = tmp_path / f'{kind}_{gap_s}.log'
        process, topic, kind_of_msg, qos = node_process(kind, video, log)
        heard = []
        subscription = probe.create_subscription(kind_of_msg, topic, heard.append, qos)
        process.start()
        try:
            deadline = time.monotonic() + 60
            while not heard and process.alive() and time.monotonic() < deadline:
                rclpy.spin_once(probe, timeout_sec=0.05)
            assert heard, log.read_text()
            code = signal_twice(process, first, second, gap_s)
        finally:
            probe.destroy_subscription(subscription)
            process.stop()
        text = log.read_text()
        assert code == 0 and 'Traceback' not in text, f'gap {gap_s * 1e3:g} ms, exit {code}:\n{text}'
