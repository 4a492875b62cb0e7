"""leader_arm: a torque-off leader arm read for teleoperation and for flagging human interventions.

Reads the leader's servos (same bus layer and parameters as arm_driver, its own port and
calibration) at `rate_hz` and publishes their positions, in radians, on `leader/joint_states`.
Torque is disabled at connect, and again whenever the bus comes back, so the arm stays limp in
the operator's hand.

* `mirror`: also publish the positions, clamped to the URDF limits (clamps counted), on
  `joint_commands`, where arm_driver (active) follows them at its own step limit: direct
  teleoperation;
* `intervention` (std_msgs/Bool, every cycle): whether a human is intervening, by
  `intervention_mode` (see dojo_hardware.intervention); `deviation` compares with the follower's
  `joint_states`.

The leader may be plugged in after the node starts or unplugged while it runs: /diagnostics says
ERROR and the node re-opens the port every `reconnect_interval_s` until it answers.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool

from dojo_core.motors import JointReading, MotorBus
from dojo_ros.diagnostics import DiagnosticsPublisher, EventCounter, TaskResult
from dojo_ros.joint_state import JointStateError, joint_state_to_vector, vector_to_joint_state
from dojo_ros.params import declare_parameters
from dojo_ros.qos import COMMAND_QOS, SENSOR_QOS
from dojo_ros.runner import run_node, shut_down_on_crash

from dojo_hardware.bus_loop import BusLoop
from dojo_hardware.intervention import INTERVENTION_MODES, InterventionDetector, InterventionRule
from dojo_hardware.limits import clamp_counted, urdf_limits
from dojo_hardware.servo_bus import BusParams


@dataclass
class LeaderArmConfig:
    """Teleoperation settings; the bus itself is described by BusParams."""

    mirror: bool = field(default=False, metadata={
        'description': 'Also publish the leader positions (clamped to the URDF limits) on joint_commands, '
                       'for direct teleoperation of the follower.',
        'read_only': True})
    intervention_mode: str = field(default='off', metadata={
        'description': f'Rule of the intervention signal, one of {INTERVENTION_MODES}: deviation = leader '
                       'differs from the follower joint_states by more than intervention_threshold_rad; '
                       'motion = a leader joint moved faster than intervention_speed_rad_s.',
        'read_only': True})
    intervention_threshold_rad: float = field(default=0.15, metadata={
        'description': 'deviation mode: largest leader-follower difference (rad, any joint) that is not an '
                       'intervention.',
        'range': (0.0, 10.0), 'read_only': True})
    intervention_speed_rad_s: float = field(default=0.5, metadata={
        'description': 'motion mode: leader joint speed (rad/s, over 0.1 s) above which the operator is '
                       'intervening.',
        'range': (0.0, 100.0), 'read_only': True})
    intervention_hold_s: float = field(default=0.5, metadata={
        'description': 'The intervention signal stays on this long after its rule last fired.',
        'range': (0.0, 60.0), 'read_only': True})

    def __post_init__(self) -> None:
        self.rule()  # validates the mode

    def rule(self) -> InterventionRule:
        return InterventionRule(self.intervention_mode, self.intervention_threshold_rad,
                                self.intervention_speed_rad_s, self.intervention_hold_s)


class LeaderArm(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('leader_arm', **kwargs)
        self.params = declare_parameters(self, BusParams)
        self.cfg = declare_parameters(self, LeaderArmConfig)
        self.names = list(self.params.joint_names)
        self.limits = urdf_limits(self.names, self.params.urdf_file)
        self.detector = InterventionDetector(self.cfg.rule())
        self.clamped = EventCounter()  # mirrored commands, by joint
        self.follower_rejected = EventCounter()  # unreadable follower joint_states, by reason
        self._follower: np.ndarray | None = None
        self._intervening = False
        self._error: Exception | None = None

        self.leader_pub = self.create_publisher(JointState, 'leader/joint_states', 10)
        self.command_pub = self.create_publisher(JointState, 'joint_commands', COMMAND_QOS) if self.cfg.mirror else None
        self.intervention_pub = self.create_publisher(Bool, 'intervention', 10)
        if self.cfg.intervention_mode == 'deviation':
            self.create_subscription(JointState, 'joint_states', self._on_follower, SENSOR_QOS)
        self.loop = BusLoop(self.params, self.get_logger(), self._cycle, on_recovered=self._on_connected,
                            on_crash=self._on_crash)
        self.diagnostics = DiagnosticsPublisher(self, hardware_id=f'{self.params.bus} {self.params.port}',
                                                period_s=self.params.diagnostics_period_s)
        self.diagnostics.add_task('bus', self.loop.diagnose_bus)
        self.diagnostics.add_task('motors', self.loop.diagnose_motors)
        self.diagnostics.add_task('teleop', self._diagnose_teleop)
        self.get_logger().info(f'leader arm on {self.params.port}: {len(self.names)} joints at '
                               f'{self.params.rate_hz:g} Hz, mirror {self.cfg.mirror}, intervention '
                               f'{self.cfg.intervention_mode}')

    def start(self) -> None:
        self.loop.start()  # opens the bus in the loop thread, retrying until the leader answers

    def stop(self) -> bool:
        self.loop.close(torque_off=False)  # never turned on
        return self._error is None

    # -- loop thread ------------------------------------------------------------------------------
    def _on_connected(self, bus: MotorBus, reading: JointReading) -> None:
        bus.disable_torque()
        self.get_logger().info(f'leader arm on {self.params.port} connected, torque off')

    def _cycle(self, bus: MotorBus, reading: JointReading) -> None:
        stamp = self.get_clock().now().to_msg()
        self.leader_pub.publish(vector_to_joint_state(self.names, reading.position, reading.velocity, stamp=stamp))
        if self.command_pub is not None:
            command = clamp_counted(reading.position, self.limits, self.clamped)
            self.command_pub.publish(vector_to_joint_state(self.names, command, stamp=stamp))
        intervening = self.detector.update(time.monotonic(), reading.position, self._follower)
        if intervening != self._intervening:
            self._intervening = intervening
            self.get_logger().info(f'intervention {"on" if intervening else "off"} ({self.cfg.intervention_mode})')
        self.intervention_pub.publish(Bool(data=intervening))

    def _on_crash(self, exc: Exception) -> None:
        if shut_down_on_crash(self, 'bus loop', exc):
            self._error = exc

    # -- inputs -----------------------------------------------------------------------------------
    def _on_follower(self, msg: JointState) -> None:
        try:
            self._follower = joint_state_to_vector(msg, self.names, 'position', allow_missing=True)
        except JointStateError as exc:
            self.follower_rejected.increment(exc.reason)
            self.get_logger().warning(f'unreadable follower joint_states ({exc.reason}): {exc}',
                                      throttle_duration_sec=1.0)

    # -- diagnostics ------------------------------------------------------------------------------
    def _diagnose_teleop(self) -> TaskResult:
        rejected = self.follower_rejected.snapshot()
        values: dict[str, object] = {
            'mirror': self.cfg.mirror, 'intervention_mode': self.cfg.intervention_mode,
            'intervention': self._intervening, 'deviation_rad': self.detector.deviation,
            'leader_speed_rad_s': self.detector.speed,
            **{f'clamped.{k}': v for k, v in self.clamped.snapshot().items()},
            **{f'follower_rejected.{k}': v for k, v in rejected.items()},
        }
        if self.cfg.intervention_mode == 'deviation' and self._follower is None:
            return DiagnosticStatus.WARN, 'no follower joint_states yet: deviation cannot be judged', values
        if rejected:
            return DiagnosticStatus.WARN, f'{sum(rejected.values())} unreadable follower joint_states', values
        return DiagnosticStatus.OK, f'intervention {"on" if self._intervening else "off"}', values


def main(args: list[str] | None = None) -> int:
    return run_node('leader_arm', LeaderArm, args)


if __name__ == '__main__':
    sys.exit(main())
