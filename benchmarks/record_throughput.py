"""recorder_node throughput: two 640x480 cameras and joints at 30 Hz, recorded live for --duration s.

Prints figures, asserts nothing: `python benchmarks/record_throughput.py [--duration 60]`.

Three processes, as on a robot: a synthetic robot (this file with --publish) publishes
joint_states, joint_commands and cameras/{front,wrist}/image_raw (rgb8, pre-rendered moving
frames, stamped on an exact 30 Hz grid of the wall clock); recorder_node records them with the
encoder asked for (LeRobot's libsvtav1 by default); this process is the operator, calling
start_episode / stop_episode and reading /diagnostics. Figures:

* frames recorded against the ticks the episode covered, dropped frames by reason, late messages,
  the real rate the recorder measured;
* CPU % of the recorder and of the publisher over the episode (100 % = one core);
* the largest writer backlog seen on /diagnostics (frames waiting for the encoder/writer);
* time from the stop_episode request to its reply (the feature map's latency, the encoder flush
  and the save) and to the next start_episode reply (ready again).

640x480 images over best-effort QoS need the Fast DDS profile with a large shared-memory segment
(config/dds/fastdds_local_large_data.xml), which this script sets for all three processes.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 101))
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('FASTRTPS_DEFAULT_PROFILES_FILE', str(REPO / 'config' / 'dds' / 'fastdds_local_large_data.xml'))

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402
from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from dojo_cameras.camera_node import CAMERA_PUBLISHER_QOS  # noqa: E402
from dojo_core.dataset import validate  # noqa: E402
from dojo_core.robot import JOINT_NAMES  # noqa: E402
from dojo_ros.image import numpy_to_image  # noqa: E402
from dojo_ros.joint_state import vector_to_joint_state  # noqa: E402
from dojo_ros.process import NodeProcess  # noqa: E402
from dojo_ros.qos import COMMAND_QOS, LATCHED_QOS  # noqa: E402

FPS = 30
CAMERAS = ('front', 'wrist')
WIDTH, HEIGHT = 640, 480
REPLY = re.compile(r'saved: (\d+) frames, ([\d.]+) s at ([\d.]+) Hz real.*?, (\d+) dropped(?: \(([^)]*)\))?')


# -- the synthetic robot (its own process) --------------------------------------------------------
def frames(camera: int, count: int = FPS) -> list[np.ndarray]:
    """A second of smooth moving colour waves (cheap to publish, realistic work for the encoder)."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH] / 160.0
    out = []
    for k in range(count):
        phase = k / count + 0.3 * camera
        r = 128 + 90 * np.sin(2 * np.pi * (x + phase))
        g = 128 + 90 * np.cos(2 * np.pi * (0.7 * y - phase))
        b = 128 + 60 * np.sin(2 * np.pi * (0.5 * (x + y) + 2 * phase))
        out.append(np.stack([r, g, b], axis=-1).round().astype(np.uint8))
    return out


def publish() -> None:
    rclpy.init()
    node = Node('synthetic_robot')
    states = node.create_publisher(JointState, 'joint_states', CAMERA_PUBLISHER_QOS)
    commands = node.create_publisher(JointState, 'joint_commands', COMMAND_QOS)
    images = {cam: node.create_publisher(Image, f'cameras/{cam}/image_raw', CAMERA_PUBLISHER_QOS) for cam in CAMERAS}
    node.create_publisher(String, 'task', LATCHED_QOS).publish(String(data='benchmark: record two cameras'))
    pictures = {cam: frames(i) for i, cam in enumerate(CAMERAS)}
    start = time.time_ns()
    try:
        for k in range(sys.maxsize):
            t = start + round(k * 1e9 / FPS)
            time.sleep(max(0.0, (t - time.time_ns()) / 1e9))
            stamp = Time(sec=t // 1_000_000_000, nanosec=t % 1_000_000_000)
            q = 0.3 * np.sin(2 * np.pi * 0.2 * k / FPS + np.arange(len(JOINT_NAMES)))
            states.publish(vector_to_joint_state(JOINT_NAMES, q, np.zeros(len(JOINT_NAMES)), stamp=stamp))
            commands.publish(vector_to_joint_state(JOINT_NAMES, q, stamp=stamp))
            for cam in CAMERAS:
                images[cam].publish(numpy_to_image(pictures[cam][k % FPS], 'rgb8', stamp=stamp))
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# -- the operator (this process) ------------------------------------------------------------------
def feature_map(path: Path) -> Path:
    joints = {'type': 'sensor_msgs/msg/JointState', 'joints': list(JOINT_NAMES)}
    features = {'observation.state': {'topic': 'joint_states', **joints},
                'action': {'topic': 'joint_commands', **joints, 'max_age': math.inf}}
    for cam in CAMERAS:
        features[f'observation.images.{cam}'] = {'topic': f'cameras/{cam}/image_raw', 'type': 'sensor_msgs/msg/Image',
                                                 'width': WIDTH, 'height': HEIGHT, 'encoding': 'rgb8'}
    path.write_text(yaml.safe_dump({'fps': FPS, 'task_topic': 'task', 'features': features}))
    return path


class Operator(Node):
    def __init__(self) -> None:
        super().__init__('benchmark_operator')
        self.status: dict[str, str] = {}
        self.max_backlog = 0
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.clients_ = {name: self.create_client(Trigger, f'recorder_node/{name}')
                         for name in ('start_episode', 'stop_episode')}

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == 'recorder_node: recording':
                self.status = {kv.key: kv.value for kv in status.values}
                self.max_backlog = max(self.max_backlog, int(self.status.get('writer_backlog', 0)))

    def spin_until(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.05)
            if predicate():
                return True
        return False

    def call(self, name: str) -> tuple[Trigger.Response, float]:
        client = self.clients_[name]
        if not client.wait_for_service(timeout_sec=30):
            raise SystemExit(f'{client.srv_name} is not available')
        start = time.monotonic()
        future = client.call_async(Trigger.Request())
        if not self.spin_until(future.done, 600):
            raise SystemExit(f'{client.srv_name} did not answer')
        return future.result(), time.monotonic() - start


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix='dojo_record_bench_'))
    root = work / 'dataset'
    recorder = NodeProcess('dojo_recorder.recorder_node', params_file=REPO / 'config' / 'recorder.yaml',
                           log_path=work / 'recorder.log',
                           parameters={'root': str(root), 'repo_id': 'bench/record', 'video_codec': args.codec,
                                       'features': str(feature_map(work / 'features.yaml'))})
    rclpy.init()
    operator = Operator()
    with open(work / 'robot.log', 'wb') as robot_log, recorder:
        robot = subprocess.Popen([sys.executable, __file__, '--publish'], stdout=robot_log, stderr=subprocess.STDOUT)
        try:
            stopped, stop_s, again, start_s, cpu = measure(operator, recorder, robot, args.duration, work)
        finally:
            robot.send_signal(signal.SIGINT)
            robot.wait(10)
    operator.destroy_node()
    rclpy.shutdown()
    report(stopped, stop_s, again, start_s, cpu, operator.max_backlog, args, root)


def measure(operator: Operator, recorder: NodeProcess, robot: subprocess.Popen, duration: float, work: Path):
    """One episode of ``duration`` s; returns the stop reply and its time, the next start's, and CPU %."""
    if not operator.spin_until(lambda: operator.status.get('active') == 'True' and operator.status.get('task'), 60):
        raise SystemExit(f'recorder not ready; log:\n{(work / "recorder.log").read_text()}')
    procs = {'recorder': psutil.Process(recorder.process.pid), 'publisher': psutil.Process(robot.pid)}
    started, _ = operator.call('start_episode')
    print(started.message)
    for proc in procs.values():
        proc.cpu_percent(None)
    operator.max_backlog = 0
    operator.spin_until(lambda: False, duration)
    cpu = {name: proc.cpu_percent(None) for name, proc in procs.items()}
    stopped, stop_s = operator.call('stop_episode')
    again, start_s = operator.call('start_episode')
    operator.call('stop_episode')
    return stopped, stop_s, again, start_s, cpu


def report(stopped: Trigger.Response, stop_s: float, again: Trigger.Response, start_s: float,
           cpu: dict[str, float], max_backlog: int, args: argparse.Namespace, root: Path) -> None:
    print(stopped.message)
    match = REPLY.search(stopped.message)
    if not match:
        raise SystemExit(f'unexpected stop_episode reply: {stopped.message}')
    frames_, seconds, rate, dropped, reasons = match.groups()
    ticks = int(frames_) + int(dropped)
    print(f'{len(CAMERAS)} cameras {WIDTH}x{HEIGHT} + joints at {FPS} Hz for {args.duration:g} s, {args.codec}, '
          f'{os.cpu_count()} CPUs')
    print(f'  frames {frames_} of {ticks} ticks ({seconds} s), dropped {dropped}'
          + (f' ({reasons})' if reasons else '') + f', real rate {rate} Hz')
    print(f'  CPU: recorder {cpu["recorder"]:.0f} %, publisher {cpu["publisher"]:.0f} % (100 % = one core)')
    print(f'  largest writer backlog on /diagnostics: {max_backlog} frames')
    print(f'  stop_episode request -> reply {stop_s:.2f} s; next start_episode reply {start_s:.2f} s '
          f'({again.message})')
    problems = validate(root, decode_video=False)
    print(f'  dataset {root}: ' + ('valid' if not problems else '; '.join(problems)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--duration', type=float, default=60.0, help='seconds of the recorded episode')
    parser.add_argument('--codec', choices=('libsvtav1', 'libx264'), default='libsvtav1')
    parser.add_argument('--publish', action='store_true', help=argparse.SUPPRESS)   # the synthetic robot
    args = parser.parse_args()
    publish() if args.publish else run(args)


if __name__ == '__main__':
    main()
