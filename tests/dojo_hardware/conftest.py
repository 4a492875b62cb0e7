"""What the dojo_hardware node tests share (as fixtures): a probe node on the ROS graph, calibration arithmetic.

The nodes under test run in their own processes (NodeProcess) against a BusEmulator in this
process, whose registers the tests read and whose faults they inject. Expected tick values are
computed here from the calibration file's numbers with the documented mapping (arm joints:
2*pi/4096 rad per tick around the middle of the range; the gripper: its range mapped linearly onto
the URDF limits), independently of dojo_core's TickMapping.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.node import Node

REPO = Path(__file__).resolve().parents[2]
HARDWARE_CONFIG = REPO / 'config' / 'hardware'
TICKS_PER_RAD = 4096 / (2 * math.pi)
GRIPPER_LIMITS = (-0.174533, 1.74533)
CALIBRATION_REGISTERS = {'Homing_Offset': 'homing_offset', 'Min_Position_Limit': 'range_min',
                         'Max_Position_Limit': 'range_max', 'Drive_Mode': 'drive_mode'}


class Calibration:
    """A LeRobot calibration file and the tick <-> radian arithmetic it implies."""

    ticks_per_rad = TICKS_PER_RAD

    def __init__(self, path: Path):
        self.path = path
        self.motors: dict[str, dict[str, int]] = json.loads(path.read_text())

    def mid(self, joint: str) -> float:
        motor = self.motors[joint]
        return (motor['range_min'] + motor['range_max']) / 2

    def radians(self, joint: str, ticks: float) -> float:
        motor = self.motors[joint]
        if joint == 'gripper':
            lower, upper = GRIPPER_LIMITS
            return lower + (ticks - motor['range_min']) / (motor['range_max'] - motor['range_min']) * (upper - lower)
        return (ticks - self.mid(joint)) / TICKS_PER_RAD

    def ticks(self, joint: str, radians: float) -> int:
        motor = self.motors[joint]
        if joint == 'gripper':
            lower, upper = GRIPPER_LIMITS
            span = motor['range_max'] - motor['range_min']
            return round(motor['range_min'] + (radians - lower) / (upper - lower) * span)
        return round(self.mid(joint) + radians * TICKS_PER_RAD)

    def store_in(self, emulator) -> None:
        """Write the calibration into the emulated servos (as `dojo calibrate` would have), then put
        every joint mid-range."""
        for joint, motor in self.motors.items():
            servo = emulator.servo(motor['id'])
            for register, key in CALIBRATION_REGISTERS.items():
                if register in servo.model.registers:  # Feetech servos have no Drive_Mode
                    servo.set(register, motor[key])
            servo.hand_move(round(self.mid(joint)))


class Probe(Node):
    """Listens to the topics a test names, publishes what it asks, and drives a lifecycle node."""

    def __init__(self) -> None:
        super().__init__('hardware_probe')
        self.latest: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.diagnostics: list[DiagnosticArray] = []
        self.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)
        self._lifecycle_clients: dict[str, object] = {}

    def listen(self, topic: str, kind: type, qos) -> None:
        self.create_subscription(kind, topic, lambda msg: self._store(topic, msg), qos)

    def _store(self, topic: str, msg) -> None:
        self.latest[topic] = msg
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def spin_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rclpy.spin_once(self, timeout_sec=0.02)
            if predicate():
                return True
        return predicate()

    def spin_for(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def fresh(self, topic: str, timeout_s: float = 10.0, count: int = 3):
        """The message of `topic` after `count` new ones arrived (so it postdates what the test just did)."""
        start = self.counts.get(topic, 0)
        assert self.spin_until(lambda: self.counts.get(topic, 0) >= start + count, timeout_s), f'no {topic}'
        return self.latest[topic]

    def positions(self, topic: str, names) -> np.ndarray:
        """Positions of the latest `topic` JointState, by name."""
        msg = self.latest[topic]
        index = {n: i for i, n in enumerate(msg.name)}
        return np.array([msg.position[index[n]] for n in names])

    @staticmethod
    def values(status: DiagnosticStatus) -> dict[str, str]:
        return {kv.key: kv.value for kv in status.values}

    def status(self, name: str) -> DiagnosticStatus | None:
        """The newest status called `name` ('<node>: <task>')."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name == name:
                    return status
        return None

    def wait_for_status(self, name: str, predicate: Callable[[DiagnosticStatus], bool],
                        timeout_s: float = 10.0) -> DiagnosticStatus:
        self.diagnostics.clear()
        assert self.spin_until(lambda: (s := self.status(name)) is not None and predicate(s), timeout_s), \
            f'{name}: {self.status(name)}'
        return self.status(name)

    # -- lifecycle --------------------------------------------------------------------------------
    def _call(self, node: str, service: str, kind: type, request):
        key = f'{node}/{service}'
        if key not in self._lifecycle_clients:
            self._lifecycle_clients[key] = self.create_client(kind, key)
        client = self._lifecycle_clients[key]
        assert client.wait_for_service(timeout_sec=20), f'no {key} service'
        future = client.call_async(request)
        assert self.spin_until(future.done, 20), f'{key} did not answer'
        return future.result()

    def lifecycle_state(self, node: str) -> str:
        return self._call(node, 'get_state', GetState, GetState.Request()).current_state.label

    def transition(self, node: str, transition_id: int) -> bool:
        return self._call(node, 'change_state', ChangeState,
                          ChangeState.Request(transition=Transition(id=transition_id))).success

    def go(self, node: str, state: str) -> None:
        """Drive `node` from its current primary state to `state` (unconfigured, inactive or active)."""
        order = ['unconfigured', 'inactive', 'active']
        up = {'unconfigured': Transition.TRANSITION_CONFIGURE, 'inactive': Transition.TRANSITION_ACTIVATE}
        down = {'active': Transition.TRANSITION_DEACTIVATE, 'inactive': Transition.TRANSITION_CLEANUP}
        current = self.lifecycle_state(node)
        while current != state:
            step = up[current] if order.index(state) > order.index(current) else down[current]
            assert self.transition(node, step), f'{node}: transition {step} from {current} failed'
            current = self.lifecycle_state(node)


@pytest.fixture(scope='module')
def probe(ros_domain):
    rclpy.init()
    node = Probe()
    yield node
    node.destroy_node()
    rclpy.shutdown()


@pytest.fixture(scope='session')
def calibration() -> Callable[[str], Calibration]:
    """`calibration('so101_follower.json')`: an example file of config/hardware/calibration/."""
    return lambda name: Calibration(HARDWARE_CONFIG / 'calibration' / name)


@pytest.fixture(scope='session')
def hardware_config() -> Path:
    """config/hardware/ of the repository."""
    return HARDWARE_CONFIG
