"""arm_driver: a Feetech or Dynamixel arm on ROS 2, as a lifecycle node (ros2 lifecycle set ...).

Speaks the JointStateTopicSystem contract: `joint_states` out (measured position and velocity,
radians, the configured joint names) and `joint_commands` in (sensor_msgs/JointState position
targets matched by name, any subset). ros2_control's topic system sends nothing new while the
command equals the state, so the driver holds its last target until a new command arrives.

Lifecycle:

* configure: connect (servos pinged, setup registers and calibration written, torque off), then
  poll the bus at `rate_hz` and publish `joint_states` from then on, so rviz shows the arm;
* activate: Goal_Position := Present_Position, torque on, target := the measured pose, so nothing
  jumps; then follow `joint_commands`;
* deactivate: stop following commands; torque stays on and the servos hold the last goal;
* cleanup: torque off, disconnect;
* shutdown, and Ctrl-C/SIGTERM in any state: torque off, disconnect.

Safety: every cycle the written goal moves at most `max_step_rad` toward the target (dojo_core's
CommandLimiter, the one policy_node and ik_node use; cut steps counted per joint), and targets
are clamped to the URDF limits narrowed by the calibrated range (clamps counted; a joint found
outside them at activation is walked back inside at the same step). Both hold for the goal in
whole servo ticks: it is rounded toward the safe side, and a `max_step_rad` below one tick is
refused at configure (the arm could never move). Malformed commands are
rejected whole and counted by reason; commands are ignored (and counted) unless active.

Faults (see bus_loop): `max_consecutive_failures` failed cycles in a row, or a lost port, put the
bus in fault: /diagnostics ERROR, nothing is written, the node deactivates itself and re-opens the
port every `reconnect_interval_s`. When the servos answer again the driver re-reads the pose, sets
Goal_Position and its target to it and, if torque was on, turns torque on again, so the arm holds
where it is. It does not follow commands again by itself: an operator re-activates it
(`ros2 lifecycle set /arm_driver activate`), because a stale command replayed after an outage
could move the arm unexpectedly.
"""
from __future__ import annotations

import functools
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, TypeVar

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState

from dojo_core.motors import JointReading, MotorBus, MotorBusError
from dojo_core.robot.safety import CommandLimiter
from dojo_ros.diagnostics import DiagnosticsPublisher, TaskResult
from dojo_ros.joint_state import vector_to_joint_state
from dojo_ros.lifecycle import RCLError, refuse_invalid_transitions
from dojo_ros.params import declare_parameters
from dojo_ros.qos import COMMAND_QOS
from dojo_ros.runner import run_node, shut_down_on_crash

from dojo_hardware.bus_loop import BusLoop, LoopState
from dojo_hardware.commands import CommandFilter
from dojo_hardware.limits import check_step, urdf_limits, within_calibration
from dojo_hardware.servo_bus import OPEN_ERRORS, BusParams

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
T = TypeVar('T')


@dataclass
class ArmDriverConfig:
    """What only the follower driver needs; the bus itself is described by BusParams."""

    max_step_rad: float = field(default=0.05, metadata={
        'description': 'Largest change of a joint goal per control cycle (rad); bigger command jumps are '
                       'ramped. At rate_hz 100, 0.05 rad is 5 rad/s, about the STS3215 top speed. At least '
                       'one servo tick (2 pi/4096 = 0.0015 rad), checked at configure.',
        'range': (1e-4, 1.0), 'read_only': True})
    autostart: bool = field(default=False, metadata={
        'description': 'Configure and activate at start (torque on!) instead of waiting for '
                       '`ros2 lifecycle set`.',
        'read_only': True})


def _exclusive(method: Callable[..., T]) -> Callable[..., T]:
    """Run a transition (or stop()) under the node's transition lock: the executor can still be running
    one when Ctrl-C ends the spin, and stop() must not release the bus under its feet."""
    @functools.wraps(method)
    def locked(self: 'ArmDriver', *args) -> T:
        with self._transitions:
            return method(self, *args)
    return locked


class ArmDriver(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__('arm_driver', **kwargs)
        self.params = declare_parameters(self, BusParams)
        self.cfg = declare_parameters(self, ArmDriverConfig)
        self.names = list(self.params.joint_names)
        self.urdf_limits = urdf_limits(self.names, self.params.urdf_file)
        self.limits = self.urdf_limits  # narrowed to the calibrated range at configure
        self.limiter = CommandLimiter(self.limits, self.cfg.max_step_rad)   # the one limiter (policy_node, ik_node)
        self.commands = CommandFilter(self.names, self.get_logger())
        self.loop: BusLoop | None = None
        self.lifecycle_state = 'unconfigured'

        # Guarded by _control (commands, loop thread, transitions); the loop thread also holds loop.lock.
        self._control = threading.Lock()
        self._transitions = threading.RLock()
        self._target: np.ndarray | None = None  # clamped target, rad
        self._goal: np.ndarray | None = None  # last goal written, rad
        self._following = False  # active and the bus healthy: commands move the arm
        self._torque_wanted = False  # torque was turned on by activate (kept by deactivate)
        self._recovered = False  # re-opened after a fault; holding until activated again
        self._error: Exception | None = None

        self.joint_pub = self.create_publisher(JointState, 'joint_states', 10)
        # Own callback group: commands are taken while a transition talks to the bus.
        self.create_subscription(JointState, 'joint_commands', self._on_command, COMMAND_QOS,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        # The loop thread asks the executor to run the deactivate transition after a fault, so that
        # transitions stay serialised with the lifecycle services (same default callback group).
        self._fault_guard = self.create_guard_condition(self._deactivate_after_fault)
        refuse_invalid_transitions(self)  # a refused change_state request must not kill the driver
        self.diagnostics = DiagnosticsPublisher(self, hardware_id=f'{self.params.bus} {self.params.port}',
                                                period_s=self.params.diagnostics_period_s)
        self.diagnostics.add_task('bus', self._diagnose_bus)
        self.diagnostics.add_task('motors', self._diagnose_motors)
        self.diagnostics.add_task('joint_commands', self.commands.diagnose)
        self.get_logger().info(f'{self.params.bus} arm on {self.params.port}: {len(self.names)} joints, '
                               f'{self.params.rate_hz:g} Hz, max step {self.cfg.max_step_rad:g} rad/cycle; '
                               + ('configuring and activating (autostart)' if self.cfg.autostart
                                  else 'waiting for `ros2 lifecycle set arm_driver configure`'))

    # -- process ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.cfg.autostart and self.trigger_configure() == SUCCESS:
            self.trigger_activate()

    @_exclusive
    def stop(self) -> bool:
        """Torque off and disconnect (Ctrl-C / SIGTERM); False if the bus thread had crashed."""
        self._release()
        return self._error is None

    # -- lifecycle transitions --------------------------------------------------------------------
    @_exclusive
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        loop = BusLoop(self.params, self.get_logger(), self._cycle, on_recovered=self._on_recovered,
                       on_fault=self._on_fault, on_crash=self._on_crash)
        try:
            reading = loop.open()
            limits = within_calibration(self.urdf_limits, loop.bus.mapping)
            check_step(self.cfg.max_step_rad, loop.bus.mapping)
        except OPEN_ERRORS as exc:
            loop.close(torque_off=False)
            self.get_logger().error(f'configure failed: {exc}')
            return FAILURE
        self.limits, self.loop = limits, loop
        self.limiter = CommandLimiter(limits, self.cfg.max_step_rad)
        self._publish(reading)
        loop.start()
        self.lifecycle_state = 'inactive'
        self.get_logger().info(f'connected to {len(self.names)} servos on {self.params.port}; publishing '
                               'joint_states, torque off until activate')
        return SUCCESS

    @_exclusive
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        loop = self.loop
        with loop.lock:
            if loop.state is not LoopState.RUNNING:
                self.get_logger().error(f'cannot activate: bus {loop.state.value} ({loop.last_error})')
                return FAILURE
            with self._control:
                try:
                    loop.bus.enable_torque()  # Goal_Position := Present_Position first
                    position = loop.bus.read_positions()
                except MotorBusError as exc:
                    self.get_logger().error(f'activate failed: {exc}; turning torque off again')
                    self._torque_off(loop.bus)
                    return FAILURE
                self._hold(position)
                self._following = self._torque_wanted = True
                self._recovered = False
        self.lifecycle_state = 'active'
        self.get_logger().info('torque on; following joint_commands')
        return SUCCESS

    @_exclusive
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._control:
            self._following = False
            if self._goal is not None:
                self._target = self._goal.copy()
        self.lifecycle_state = 'inactive'
        self.get_logger().info('deactivated: holding position, ignoring joint_commands')
        return SUCCESS

    @_exclusive
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.lifecycle_state = 'unconfigured'
        return SUCCESS

    @_exclusive
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.lifecycle_state = 'finalized'
        return SUCCESS

    @_exclusive
    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.lifecycle_state = 'unconfigured'
        return SUCCESS

    def _release(self) -> None:
        """Stop the loop, torque off, disconnect (safe in any state, any number of times)."""
        with self._control:
            self._following = self._torque_wanted = self._recovered = False
            self._goal = self._target = None
        loop, self.loop = self.loop, None
        if loop is not None:
            loop.close(torque_off=True)
            self.get_logger().info(f'torque off, disconnected from {self.params.port}')

    def _deactivate_after_fault(self) -> None:
        if self.lifecycle_state == 'active':
            self.get_logger().warning('bus fault: deactivating; activate again once the bus is back')
            try:
                self.trigger_deactivate()
            except RCLError as exc:  # an operator's transition got there first
                self.get_logger().warning(f'deactivation after the fault not possible: {exc}')

    # -- loop thread ------------------------------------------------------------------------------
    def _cycle(self, bus: MotorBus, reading: JointReading) -> None:
        self._publish(reading)
        with self._control:
            if not self._following:
                return
            last, max_step = self._goal, self.cfg.max_step_rad
            # the one limiter's step, rounded to whole ticks toward the safe side: inside the limits,
            # and never more than a step (which wins for a joint being walked back inside them)
            sent = bus.write_goal_positions(self.limiter(self._target),
                                            within=((self.limits.lower, self.limits.upper),
                                                    (last - max_step, last + max_step)))
            self._goal = np.fromiter(sent.values(), dtype=float)
            self.limiter.applied(self._goal)

    def _on_fault(self, reason: str) -> None:
        with self._control:
            self._following = False
        self._fault_guard.trigger()

    def _on_recovered(self, bus: MotorBus, reading: JointReading) -> None:
        """The port is back: hold the measured pose (torque on again only if it was on)."""
        with self._control:
            if self._torque_wanted:
                bus.enable_torque()  # Goal_Position := Present_Position before torque on
                self._hold(bus.read_positions())
            self._recovered = True
        self.get_logger().warning('bus recovered: holding the measured pose; activate to follow joint_commands')

    def _on_crash(self, exc: Exception) -> None:
        if shut_down_on_crash(self, 'bus loop', exc):  # main() then turns torque off
            self._error = exc

    def _hold(self, position: np.ndarray) -> None:
        """Goal = the measured pose (where the servos now hold); target = the same, within limits."""
        self._goal = np.asarray(position, dtype=float).copy()
        self._target = self.limits.clamp(self._goal)
        self.limiter.reset(self._goal)

    def _publish(self, reading: JointReading) -> None:
        self.joint_pub.publish(vector_to_joint_state(self.names, reading.position, reading.velocity,
                                                     stamp=self.get_clock().now().to_msg()))

    def _torque_off(self, bus: MotorBus) -> None:
        try:
            bus.disable_torque()
        except MotorBusError as exc:
            self.get_logger().error(f'torque off failed: {exc}')

    # -- inputs -----------------------------------------------------------------------------------
    def _on_command(self, msg: JointState) -> None:
        values = self.commands.positions(msg)
        if values is None:
            return
        with self._control:
            if not self._following:  # active but not following: the bus has just failed
                self.commands.ignore('fault' if self.lifecycle_state == 'active' else self.lifecycle_state)
                return
            self._target = self.commands.merge(values, self._target, self.limits)

    # -- diagnostics ------------------------------------------------------------------------------
    def _diagnose_bus(self) -> TaskResult:
        loop = self.loop
        if loop is None:
            state = self.lifecycle_state
            return DiagnosticStatus.OK, f'{state}: not connected', {'lifecycle_state': state}
        level, message, values = loop.diagnose_bus()
        values = {'lifecycle_state': self.lifecycle_state, 'following_commands': self._following, **values,
                  **self.limiter.figures()}
        if level == DiagnosticStatus.OK and self._recovered and self.lifecycle_state != 'active':
            level, message = DiagnosticStatus.WARN, 'recovered from a bus fault, holding position: activate to follow'
        return level, f'{self.lifecycle_state}: {message}', values

    def _diagnose_motors(self) -> TaskResult:
        loop = self.loop
        return loop.diagnose_motors() if loop is not None else (DiagnosticStatus.STALE, 'not connected', {})


def main(args: list[str] | None = None) -> int:
    return run_node('arm_driver', ArmDriver, args)


if __name__ == '__main__':
    sys.exit(main())
