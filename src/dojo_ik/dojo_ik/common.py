"""What ik_node and pick_place_expert share: joint-state input, joint-command streaming, and a
spin loop that shuts down cleanly on SIGINT/SIGTERM.

Both nodes turn a dojo_core `JointPlan` into position targets on `joint_commands`
(sensor_msgs/JointState, all joints, stamped; the JointStateTopicSystem contract) at the control
rate, on a timer of the node clock: with use_sim_time the plan plays in sim time, at whatever pace
the sim runs. A plan drives some joints (a "track"; ik_node moves the arm and the gripper
independently), the others keep their last command, and after the last track ends the last
command is published again every period: the streamer holds position, so a topic-based driver
that only moves on a new command keeps its target.

Plan time advances with the node clock, but by at most 1.5 control periods per command: when a
loaded machine delays or skips timer ticks (in sim time: the sim runs ahead of this node), the
motion slows down instead of jumping, so the commands stay as smooth as the plan and within its
velocity limits. Plan time never goes backwards: a sim reset sets sim time back to zero, and a
plan playing across it pauses for that tick instead of restarting or stalling until sim time
reaches the old value again.

Safety net: every command goes through dojo_core's CommandLimiter (the one policy_node and
arm_driver use): clamped to the URDF joint limits, and no joint moves more than `max_step_rad`
between two commands (a larger step is cut and caught up over the next ticks), counted per joint.

The streamer and the monitor are thread-safe: pick_place_expert drives them from its episode thread.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import rclpy
from rclpy.executors import Executor, ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import JointState

from dojo_core.kinematics.trajectory import JointPlan
from dojo_core.robot.description import JOINT_NAMES, JointLimits
from dojo_core.robot.safety import CommandLimiter
from dojo_ros.diagnostics import EventCounter
from dojo_ros.joint_state import JointStateError, joint_state_to_vector, vector_to_joint_state
from dojo_ros.qos import COMMAND_QOS, SENSOR_QOS

IDLE, MOVING, HOLDING = 'idle', 'moving', 'holding'
# Largest advance of plan time per command, in control periods (> 1 absorbs timer jitter).
MAX_TICK_ADVANCE = 1.5


@dataclass
class StreamConfig:
    """How plans become joint_commands."""

    control_rate_hz: float = field(default=30.0, metadata={
        'description': 'Rate of joint_commands (Hz) in node-clock time: sim time with use_sim_time.',
        'range': (1.0, 1000.0), 'read_only': True})
    max_step_rad: float = field(default=0.15, metadata={
        'description': 'Largest change of any joint between two consecutive commands (rad); a larger step is '
                       'cut to this and caught up over the next ticks. The default is the URDF velocity limit '
                       '(4.7 rad/s) over one 30 Hz period.', 'range': (0.001, 3.0)})


def stamp_seconds(stamp) -> float:
    """A builtin_interfaces/Time as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


class JointStateMonitor:
    """The latest measured joint positions from `joint_states` (SensorDataQoS), matched by name.

    Messages that cannot be read (missing joints, NaN, mismatched arrays) are dropped and counted
    by reason in `rejected`; `count` is the number of messages taken, so a caller can wait for
    fresh ones.
    """

    def __init__(self, node: Node, names: tuple[str, ...] = JOINT_NAMES) -> None:
        self._node = node
        self.names = names
        self.rejected = EventCounter()
        self._lock = threading.Lock()
        self._position: np.ndarray | None = None
        self._count = 0
        node.create_subscription(JointState, 'joint_states', self._on_joint_states, SENSOR_QOS)

    def _on_joint_states(self, msg: JointState) -> None:
        try:
            position = joint_state_to_vector(msg, self.names)
        except JointStateError as exc:
            self.rejected.increment(exc.reason)
            self._node.get_logger().warning(f'ignored a joint_states message ({exc.reason}): {exc}',
                                            throttle_duration_sec=1.0)
            return
        with self._lock:
            self._position = position
            self._count += 1

    @property
    def position(self) -> np.ndarray | None:
        """Latest joint positions (rad, `names` order), None before the first message."""
        with self._lock:
            return None if self._position is None else self._position.copy()

    @property
    def count(self) -> int:
        with self._lock:
            return self._count


@dataclass
class _Track:
    plan: JointPlan
    joints: np.ndarray      # boolean mask of the joints this plan drives
    elapsed: float = 0.0    # node-clock seconds played so far


class CommandStreamer:
    """Plays plans as `joint_commands` on a node-clock timer and holds the last command after them.

    `publish=False` keeps the timing and the state (idle / moving / holding) without publishing,
    for a node whose motions go to a trajectory controller instead.
    """

    def __init__(self, node: Node, config: StreamConfig, limits: JointLimits, *, publish: bool = True) -> None:
        self._node = node
        self.config = config
        self.limits = limits
        self.names = limits.names
        self.period = 1.0 / config.control_rate_hz
        self.limiter = CommandLimiter(limits, config.max_step_rad)   # counts clamps and cut steps per joint
        self.published = 0
        self._lock = threading.Lock()
        self._tracks: dict[str, _Track] = {}
        self._target: np.ndarray | None = None    # where the tracks want the joints (held after them)
        self._command: np.ndarray | None = None   # the last command: the target, rate-limited
        self._last_tick: float | None = None
        self._publisher = node.create_publisher(JointState, 'joint_commands', COMMAND_QOS) if publish else None
        node.create_timer(self.period, self._tick)

    def play(self, plan: JointPlan, track: str = 'all', joints: np.ndarray | None = None) -> None:
        """Start `plan` now on the joints `joints` (boolean mask; default all), replacing the track
        of the same name. The plan should start at `command` (or, when idle, at the measured
        position): the first command is the plan's first sample, within `max_step_rad`."""
        mask = np.ones(len(self.names), dtype=bool) if joints is None else np.asarray(joints, dtype=bool)
        now = self._now()
        with self._lock:
            if self._command is None:
                self.limiter.reset(plan.sample(0.0))
                self._command = self.limiter.last.copy()
                self._target = self._command.copy()
            # The next tick adds the time since the last one; only the part after now is the plan's.
            since_tick = 0.0 if self._last_tick is None else min(max(0.0, now - self._last_tick), self.period)
            self._tracks[track] = _Track(plan, mask, -since_tick)

    def hold(self, position: np.ndarray) -> None:
        """Drop every track and publish `position` (clamped) from now on, e.g. the measured
        position before a plan starts, so that subscribers see commands from the first period."""
        with self._lock:
            self._tracks.clear()
            self.limiter.reset(position)
            self._command = self.limiter.last.copy()
            self._target = self._command.copy()

    def stop(self) -> None:
        """Drop every track and stop publishing (idle): another node may command the joints now."""
        with self._lock:
            self._tracks.clear()
            self._command = self._target = None

    @property
    def command(self) -> np.ndarray | None:
        """The last command (the position held between plans); None while idle."""
        with self._lock:
            return None if self._command is None else self._command.copy()

    @property
    def state(self) -> str:
        with self._lock:
            if self._command is None:
                return IDLE
            return MOVING if self._tracks or not np.array_equal(self._command, self._target) else HOLDING

    def _now(self) -> float:
        return self._node.get_clock().now().nanoseconds * 1e-9

    def _tick(self) -> None:
        now = self._now()
        with self._lock:
            dt = 0.0 if self._last_tick is None else min(max(0.0, now - self._last_tick),
                                                         MAX_TICK_ADVANCE * self.period)
            self._last_tick = now
            if self._command is None:
                return
            for name, track in list(self._tracks.items()):
                track.elapsed += dt
                # Aim where the arm should be when the next command arrives, one period from now.
                self._target[track.joints] = track.plan.sample(track.elapsed + self.period)[track.joints]
                if track.elapsed + self.period >= track.plan.duration:
                    del self._tracks[name]
            self._target = self.limits.clamp(self._target)
            self._command = self.limiter(self._target)
            # Published under the lock: once stop() returns, no further command goes out.
            if self._publisher is not None:
                self._publisher.publish(vector_to_joint_state(self.names, self._command,
                                                              stamp=self._node.get_clock().now().to_msg()))
                self.published += 1


def init_without_signal_handlers(args: list[str] | None) -> None:
    """rclpy.init for a node whose main loop is `spin_until_stopped` (which handles the signals)."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)


def spin_until_stopped(executor: Executor, node: Node, done: Callable[[], bool] = lambda: False) -> None:
    """Spin until SIGINT or SIGTERM, a shutdown of the node's context, or `done()`.

    rclpy's own SIGINT handling raises KeyboardInterrupt wherever the main thread is, including
    inside a message conversion, which can end the process with a traceback instead of its normal
    shutdown; here the signals only set a flag that is checked between two callbacks. Call rclpy's
    init through `init_without_signal_handlers` so that rclpy does not install its handlers too.
    """
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set() and not done() and rclpy.ok(context=node.context):
            executor.spin_once(timeout_sec=0.05)
    except ExternalShutdownException:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
