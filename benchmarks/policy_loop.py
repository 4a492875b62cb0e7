"""policy_node's control loop at 30 Hz while the model runs: tick jitter, missed steps, inference latency.

Prints figures, asserts nothing:

    python benchmarks/policy_loop.py [--policy TYPE] [--preset cpu] [--set key=value] [--execution ...]

policy_node runs as its own process on the wall clock with a randomly initialised checkpoint built
here (latency does not depend on the weights) of any registered policy type (`--policy`, default act),
one of its presets (`--preset`, default cpu) and config fields over it (`--set`, repeatable, the value
as JSON, e.g. `--policy diffusion --set num_inference_steps=100`), reading the so101_sim feature map;
this process plays the robot: it publishes joint_states and both cameras of that map (640x480 and
320x240, rgb8) at 30 Hz, stamped now, and receives joint_commands. The commands' header stamps are
the node's tick times, so their spread is the control loop's own jitter (no transport in it); the
arrival times add the DDS hop. With `--execution temporal_ensemble` the model runs back to back (a
chunk per step), the worst case for a loop that shares the interpreter with it. (`benchmarks/
policy_latency.py` times the model alone.) The holds are counted over the measured window, after the
first chunk of the run: with asynchronous chunking (`--chunk-threshold`, policy_node's default 0.5)
no step should wait for a chunk; `--chunk-threshold 0` asks only when the queue is empty, for comparison.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState

from _policies import add_policy_arguments, describe, policy_config, random_policy
from dojo_core.policies import PolicyConfig, dataset_features
from dojo_core.robot import JOINT_NAMES
from dojo_core.sync import load_feature_map
from dojo_ros.image import numpy_to_image
from dojo_ros.joint_state import vector_to_joint_state
from dojo_ros.lifecycle import LifecycleClient
from dojo_ros.process import NodeProcess
from dojo_ros.qos import COMMAND_QOS, SENSOR_QOS

REPO = Path(__file__).resolve().parents[1]
RATE_HZ = 30.0
HOME = np.array([0.0, -0.6, 0.6, 1.1, 0.0, 0.3])
DEFAULT_PRESET = 'cpu'


def write_checkpoint(path: Path, policy_type: str, preset: str, overrides: dict[str, Any]) -> Path:
    """A random `policy_type` checkpoint of `preset` with `overrides`, reading the so101_sim features;
    its actions stay near HOME (stats: action mean HOME, std 0.05, min/max HOME -+ 0.1)."""
    features = load_feature_map(REPO / 'config' / 'features' / 'so101_sim.yaml')
    inputs, outputs = dataset_features(features.lerobot_features())
    config = policy_config(policy_type, preset, inputs, outputs, overrides, fps=int(RATE_HZ))
    policy = random_policy(config, {'observation.state': (0.0, 1.0), 'action': (HOME, 0.05)})
    return policy.save_pretrained(path)


class Robot(Node):
    """Publishes the observations at 30 Hz (own thread, wall clock) and records the commands."""

    def __init__(self) -> None:
        super().__init__('policy_loop_robot')
        self.stamps: list[float] = []     # header stamps of the commands: the node's tick times
        self.arrivals: list[float] = []
        self.status: dict[str, dict[str, str]] = {}
        self.create_subscription(JointState, 'joint_commands', self._on_command, COMMAND_QOS)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.joints = self.create_publisher(JointState, 'joint_states', SENSOR_QOS)
        self.cameras = {name: (self.create_publisher(Image, f'cameras/{name}/image_raw', SENSOR_QOS), size)
                        for name, size in (('front', (480, 640)), ('wrist', (240, 320)))}
        self.running = True
        self._thread = threading.Thread(target=self._publish_loop, daemon=True)

    def _on_command(self, msg: JointState) -> None:
        self.stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
        self.arrivals.append(time.time())

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.status[status.name] = {kv.key: kv.value for kv in status.values}

    def start(self) -> None:
        self._thread.start()

    def _publish_loop(self) -> None:
        rng = np.random.default_rng(0)
        images = {name: rng.integers(0, 256, (*size, 3), dtype=np.uint8) for name, (_, size) in self.cameras.items()}
        next_time = time.monotonic()
        while self.running:
            stamp = self.get_clock().now().to_msg()
            self.joints.publish(vector_to_joint_state(JOINT_NAMES, HOME, np.zeros(6), stamp=stamp))
            for name, (publisher, _) in self.cameras.items():
                publisher.publish(numpy_to_image(images[name], 'rgb8', stamp=stamp))
            next_time += 1.0 / RATE_HZ
            time.sleep(max(0.0, next_time - time.monotonic()))


def percentiles(values: np.ndarray) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f'p50 {p50:6.2f}  p99 {p99:6.2f}  max {values.max():6.2f}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_policy_arguments(parser, preset_help=f"one of the type's presets (default: {DEFAULT_PRESET})")
    parser.add_argument('--execution', choices=('queue', 'temporal_ensemble'), default='queue')
    parser.add_argument('--seconds', type=float, default=20.0, help='wall seconds measured')
    parser.add_argument('--threads', type=int, default=1, help='torch threads of the node (0: torch default)')
    parser.add_argument('--chunk-threshold', type=float, default=0.5,
                        help='queue: the next chunk is requested at this fraction of n_action_steps left (default 0.5)')
    args = parser.parse_args()
    preset, overrides = args.preset or DEFAULT_PRESET, dict(args.overrides)
    os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    os.environ.setdefault('FASTRTPS_DEFAULT_PROFILES_FILE',
                          str(REPO / 'config' / 'dds' / 'fastdds_local_large_data.xml'))

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = write_checkpoint(Path(tmp) / args.policy, args.policy, preset, overrides)
        summary = describe(PolicyConfig.load(checkpoint), preset, overrides)
        node = NodeProcess('dojo_policy.policy_node', params_file=REPO / 'config' / 'policy.yaml', parameters={
            'checkpoint': str(checkpoint), 'feature_map': str(REPO / 'config' / 'features' / 'so101_sim.yaml'),
            'device': 'cpu', 'inference_threads': args.threads, 'execution': args.execution,
            'chunk_threshold': args.chunk_threshold},
            log_path=Path(tmp) / 'policy_node.log')
        with node:
            rclpy.init()
            robot = Robot()
            robot.start()
            lifecycle = LifecycleClient(robot, 'policy_node')
            if not (lifecycle.wait_for_services(60) and lifecycle.go('active', timeout_s=120)):
                print((Path(tmp) / 'policy_node.log').read_text())
                raise SystemExit('policy_node did not activate')
            settle = time.monotonic() + 3.0
            while time.monotonic() < settle:
                rclpy.spin_once(robot, timeout_sec=0.01)
            robot.stamps.clear()
            robot.arrivals.clear()
            before = dict(robot.status.get('policy_node: control', {}))
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                rclpy.spin_once(robot, timeout_sec=0.01)
            robot.running = False
            control = dict(robot.status.get('policy_node: control', {}))
            inference = dict(robot.status.get('policy_node: inference', {}))
            lifecycle.go('inactive')
            robot.destroy_node()
            rclpy.try_shutdown()

    stamps, arrivals = np.array(robot.stamps), np.array(robot.arrivals)
    period = 1.0 / RATE_HZ
    steps = np.round((stamps - stamps[0]) / period)
    lateness = (stamps - stamps[0] - steps * period) * 1e3
    print(f'policy_node, {summary} ({inference.get("execution", args.execution)}), '
          f'{args.threads or "default"} torch thread(s), {args.seconds:g} s at {RATE_HZ:g} Hz (wall clock)')
    print(f'  inference latency (node diagnostics): p50 {inference.get("latency_p50_ms", "?")} ms, '
          f'p99 {inference.get("latency_p99_ms", "?")} ms')
    span = stamps[-1] - stamps[0]
    print(f'  commands: {len(stamps)} in {span:.2f} s = {(len(stamps) - 1) / span:.2f} Hz; '
          f'steps without a command: {int(steps[-1] + 1 - len(stamps))}')
    print(f'  tick interval (ms):            {percentiles(np.diff(stamps) * 1e3)}  (nominal {period * 1e3:.2f})')
    print(f'  tick time - 30 Hz grid (ms):   {percentiles(np.abs(lateness - np.median(lateness)))}')
    print(f'  arrival - tick (ms, DDS hop):  {percentiles((arrivals - stamps) * 1e3)}')
    def during(key: str) -> int:
        return int(control.get(key, 0)) - int(before.get(key, 0))

    holds = {k[6:]: during(k) for k in control if k.startswith('holds.') and during(k)}
    print(f'  in the measured window (after the first chunk): holds {during("holds")} '
          f'({", ".join(f"{k} {v}" for k, v in holds.items()) or "none"}) = '
          f'{holds.get("waiting_for_chunk", 0) / args.seconds * 10:.2f} waiting_for_chunk per 10 s episode; '
          f'chunks {during("chunks")}, stale actions skipped {during("stale_actions")}')


if __name__ == '__main__':
    main()
