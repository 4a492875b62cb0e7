"""Servo-bus cycle rate against the emulated SO-101 bus: the bus layer alone, then arm_driver on ROS.

Prints figures, asserts nothing: `python benchmarks/bus_rate.py`. The emulator runs in its own
process (as the servos are their own hardware) behind a pty. With wire timing on (the default) it
holds every reply until the request and the reply would have crossed a 1 Mbaud line, plus the
servos' Return_Delay_Time (0 after connect), so the figures include the wire time of a real bus;
`--no-realtime` rows show the raw pty rate (no wire time). Not modelled: the USB-serial adapter's
latency timer (FTDI default 16 ms, often set to 1 ms), which on real hardware can dominate.

* bus alone: one cycle = read_joint_state() (one sync read of position+velocity) +
  write_goal_positions() (one sync write), as fast as it goes;
* arm_driver: the node (autostart, active) with rate_hz set to each `--rates` value, its own
  measured loop rate from /diagnostics and the joint_states rate seen by a subscriber here.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 101))
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

from dojo_core.motors import MotorBusConfig, load_calibration, make_bus  # noqa: E402
from dojo_ros.process import NodeProcess  # noqa: E402
from dojo_ros.qos import SENSOR_QOS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CALIBRATION = REPO / 'config' / 'hardware' / 'calibration' / 'so101_follower.json'
PARAMS_FILE = REPO / 'config' / 'hardware' / 'so101_feetech.yaml'
BYTE_TIME_S = 10 / 1_000_000  # 8N1 at 1 Mbaud
# One cycle on the wire for 6 servos: sync read of 4 bytes (14-byte instruction, six 10-byte replies)
# and sync write of 2 bytes (26-byte instruction, no replies).
WIRE_BYTES = 14 + 6 * 10 + 26


class Emulator:
    """`python -m dojo_core.motors.emulator` on a symlinked pty, for the lifetime of a with-block."""

    def __init__(self, link: Path, realtime: bool):
        self.link = link
        self.args = [sys.executable, '-m', 'dojo_core.motors.emulator', '--link', str(link)]
        if not realtime:
            self.args.append('--no-realtime')

    def __enter__(self) -> 'Emulator':
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        self.process.stdout.readline()  # '... on <port>': the link exists
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(10)


def bus_alone(link: Path, realtime: bool, seconds: float) -> None:
    with Emulator(link, realtime):
        bus = make_bus(MotorBusConfig(port=str(link)), load_calibration(CALIBRATION))
        bus.connect()
        bus.enable_torque()
        cycles, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            reading = bus.read_joint_state()
            bus.write_goal_positions(reading.position)
            cycles += 1
        elapsed = time.perf_counter() - start
        counters = bus.counters
        bus.disable_torque()
        bus.close()
    print(f'bus alone, {"1 Mbaud wire timing" if realtime else "raw pty, no wire timing"}: '
          f'{cycles / elapsed:.0f} read+write cycles/s ({1e3 * elapsed / cycles:.2f} ms/cycle; '
          f'{counters.retries} retries, {counters.failures} failures)')


def driver_rate(link: Path, realtime: bool, rate_hz: float, seconds: float, log: Path) -> None:
    with Emulator(link, realtime):
        parameters = {'port': str(link), 'calibration_file': str(CALIBRATION), 'autostart': True,
                      'rate_hz': rate_hz, 'status_rate_hz': 2.0, 'diagnostics_period_s': 0.5}
        with NodeProcess('dojo_hardware.arm_driver', params_file=PARAMS_FILE, parameters=parameters, log_path=log):
            node = rclpy.create_node('bus_rate_probe')
            arrivals: list[float] = []
            latest: dict[str, str] = {}
            node.create_subscription(JointState, 'joint_states', lambda _: arrivals.append(time.monotonic()),
                                     SENSOR_QOS)

            def on_diagnostics(array: DiagnosticArray) -> None:
                for status in array.status:
                    if status.name == 'arm_driver: bus':
                        latest.update({kv.key: kv.value for kv in status.values}, message=status.message)

            node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
            deadline = time.monotonic() + 30
            while latest.get('lifecycle_state') != 'active' and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
            if latest.get('lifecycle_state') != 'active':
                print(f'rate_hz {rate_hz:g}: arm_driver did not activate within 30 s; log:\n{log.read_text()}')
                node.destroy_node()
                return
            start, first = time.monotonic(), len(arrivals)
            while time.monotonic() - start < seconds:
                rclpy.spin_once(node, timeout_sec=0.05)
            received = (len(arrivals) - first) / (time.monotonic() - start)
            node.destroy_node()
    print(f'arm_driver rate_hz {rate_hz:g} ({"1 Mbaud wire timing" if realtime else "raw pty"}): loop '
          f'{float(latest.get("loop_rate_hz", "nan")):.1f} Hz (node), joint_states received {received:.1f} Hz; '
          f'{latest.get("failed_cycles", "?")} failed cycles, {latest.get("bus.retries", "?")} bus retries')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seconds', type=float, default=5.0, help='measurement time per figure')
    parser.add_argument('--rates', type=float, nargs='+', default=[100.0, 1000.0],
                        help='arm_driver rate_hz settings to measure (1000 = as fast as it goes)')
    parser.add_argument('--no-realtime', dest='realtime', action='store_false',
                        help='only the raw pty figures (emulator replies without wire timing)')
    args = parser.parse_args()

    wire_s = WIRE_BYTES * BYTE_TIME_S
    print(f'{os.cpu_count()} CPU cores; 6 STS3215 servos at 1 Mbaud: {WIRE_BYTES} bytes = {1e3 * wire_s:.2f} ms on '
          f'the wire per cycle (ceiling {1 / wire_s:.0f} cycles/s before latencies)')
    modes = [True, False] if args.realtime else [False]
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / 'ttyBENCH'
        for realtime in modes:
            bus_alone(link, realtime, args.seconds)
        rclpy.init()
        try:
            for realtime in modes:
                for rate in args.rates:
                    driver_rate(link, realtime, rate, args.seconds, Path(tmp) / f'arm_driver_{rate:g}.log')
        finally:
            rclpy.shutdown()


if __name__ == '__main__':
    main()
