"""ik_node: tool pose targets in, smooth joint motions out: the classical IK baseline.

On each `ik/target_pose` (geometry_msgs/PoseStamped in the base frame, or in a frame configured
as a static transform) the node solves IK warm-started from where the arm is commanded to be
(the measured `joint_states` before its first motion), position as the goal and orientation as a
weighted soft goal (or position only), then plays a motion there with dojo_core's trajectory
tools, within the configured speed limits: a joint-space minimum-jerk move, or a straight tool
line to the solved configuration that turns the tool on the way (dojo_core.kinematics.line_to).
The motion streams as `joint_commands` at the control rate on the node clock (sim time with
use_sim_time), and/or goes out once as a trajectory_msgs/JointTrajectory for a
joint_trajectory_controller. `ik/gripper` (std_msgs/Float64, 0 = open, 1 = closed) moves the jaw
linearly between `gripper_open` and 0 rad (the URDF's closed position), independently of the
arm. Between motions the last command is published again, so the arm holds its position. A new
target replaces the motion in progress, starting from the current command.

Bad input (NaN, a zero quaternion, an unknown frame, an unreachable pose, a gripper value outside
[0, 1]) is refused with a warning and counted by reason on /diagnostics; nothing moves. Backends:
`pinocchio` (dojo_core.kinematics.ik) or `moveit` (moveit_py, imported only when chosen; see
config/moveit/README.md).

Planning runs in the executor thread, between two control ticks: a solve takes about a millisecond
(tens when random restarts are needed or for a long line), during which the next command waits
and the controller holds the last one.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.logging import get_logger
from rclpy.node import Node
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from dojo_core.kinematics.cartesian import LineLimits, PlanningError
from dojo_core.kinematics.ik import IKConfig, IKSolver, IKTarget
from dojo_core.kinematics.model import TOOL_FRAME, RobotModel
from dojo_core.kinematics.line_to import straight_line_to
from dojo_core.kinematics.trajectory import JointPlan, Segment
from dojo_core.metrics import Timings
from dojo_core.robot.description import ARM_JOINTS, GRIPPER_JOINT, JOINT_NAMES
from dojo_ik.frames import TargetError, TargetFrames, parse_static_frames
from dojo_ik.moveit_ik import BackendUnavailable, MoveItConfig, MoveItIK
from dojo_ik.common import (CommandStreamer, JointStateMonitor, StreamConfig, init_without_signal_handlers,
                            spin_until_stopped)
from dojo_ros.diagnostics import DiagnosticsPublisher, EventCounter
from dojo_ros.params import declare_parameters
from dojo_ros.qos import COMMAND_QOS

BACKENDS = ('pinocchio', 'moveit')
MOTIONS = ('joint', 'line')
OUTPUTS = ('stream', 'trajectory', 'both')
ARM_MASK = np.array([name in ARM_JOINTS for name in JOINT_NAMES])
GRIPPER_MASK = ~ARM_MASK
GRIPPER = JOINT_NAMES.index(GRIPPER_JOINT)
# Solve times kept for the percentiles on /diagnostics.
TIMING_WINDOW = 1000
# Parameters that take effect from the next target when set at runtime (the others are read-only).
RUNTIME_PARAMETERS = ('position_only', 'motion', 'speed_scale', 'joint_acceleration', 'tool_speed',
                      'tool_acceleration', 'gripper_open')


@dataclass
class IKNodeConfig:
    """Frames, backend, motion and output of ik_node (IK tolerances are the `ik.*` parameters)."""

    base_frame: str = field(default='base_link', metadata={
        'description': 'Frame of the IK model root; target poses in it (or with an empty frame_id) are used '
                       'as they are.',
        'read_only': True})
    tip_frame: str = field(default=TOOL_FRAME, metadata={
        'description': 'URDF frame that is moved to the target pose (gripper_frame: between the jaws).',
        'read_only': True})
    target_frames: list[str] = field(default_factory=list, metadata={
        'description': 'Static frames accepted besides the base frame, each "<frame> x y z roll pitch yaw": the '
                       'pose of <frame> in the base frame (m, rad; fixed-axis rpy as in a URDF origin). No tf2.',
        'read_only': True})
    ik_backend: str = field(default='pinocchio', metadata={
        'description': f'IK solver, one of {BACKENDS}; moveit needs moveit_py (see config/moveit/README.md).',
        'read_only': True})
    position_only: bool = field(default=False, metadata={
        'description': 'Ignore the target orientation (position-only IK); else it is a weighted soft goal '
                       '(ik.orientation_weight).'})
    motion: str = field(default='joint', metadata={
        'description': f'How the tool gets to a target, one of {MOTIONS}: joint = minimum-jerk joint-space move '
                       '(any reachable target), line = straight tool line (refused where the line leaves the '
                       'workspace or changes arm configuration).'})
    output: str = field(default='stream', metadata={
        'description': f'Where motions go, one of {OUTPUTS}: stream = joint_commands at the control rate (held '
                       'between motions), trajectory = one JointTrajectory per motion on trajectory_topic.',
        'read_only': True})
    trajectory_topic: str = field(default='joint_trajectory_controller/joint_trajectory', metadata={
        'description': 'Topic of the JointTrajectory output (a joint_trajectory_controller).', 'read_only': True})
    trajectory_joints: list[str] = field(default_factory=lambda: list(ARM_JOINTS), metadata={
        'description': 'Joints of the JointTrajectory output, the controller\'s `joints` (config/controllers.yaml: '
                       'the five arm joints; gripper goals then go to the trajectory topic only if listed).',
        'read_only': True})
    speed_scale: float = field(default=0.5, metadata={
        'description': 'Fraction of the URDF joint velocity limits a motion may use.', 'range': (0.01, 1.0)})
    joint_acceleration: float = field(default=8.0, metadata={
        'description': 'Joint acceleration limit of a motion (rad/s^2).', 'range': (0.1, 100.0)})
    tool_speed: float = field(default=0.15, metadata={
        'description': 'Tool speed limit of a straight-line motion (m/s).', 'range': (0.01, 2.0)})
    tool_acceleration: float = field(default=0.6, metadata={
        'description': 'Tool acceleration limit of a straight-line motion (m/s^2).', 'range': (0.01, 20.0)})
    gripper_open: float = field(default=1.2, metadata={
        'description': 'Jaw angle of ik/gripper 0 (open), rad; 1 (closed) is 0 rad, the URDF closed position.',
        'range': (0.05, 1.74533)})
    static_frames: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name, value, allowed in (('ik_backend', self.ik_backend, BACKENDS), ('motion', self.motion, MOTIONS),
                                     ('output', self.output, OUTPUTS)):
            if value not in allowed:
                raise ValueError(f'{name} must be one of {allowed}, got {value!r}')
        unknown = sorted(set(self.trajectory_joints) - set(JOINT_NAMES))
        if unknown or not self.trajectory_joints:
            raise ValueError(f'trajectory_joints must be some of {list(JOINT_NAMES)}, got {self.trajectory_joints}')
        self.static_frames = parse_static_frames(self.target_frames)


def plan_to_trajectory(plan: JointPlan, joints: list[str], period: float) -> JointTrajectory:
    """`plan` sampled every `period` seconds (and at its end) as a JointTrajectory of `joints`,
    positions and velocities, starting when received (zero header stamp)."""
    index = [JOINT_NAMES.index(name) for name in joints]
    times = [*np.arange(period, plan.duration, period), plan.duration]
    h = 1e-3
    msg = JointTrajectory(joint_names=list(joints))
    for t in times:
        velocity = (plan.sample(t + h) - plan.sample(t - h)) / (2 * h)
        msg.points.append(JointTrajectoryPoint(
            positions=plan.sample(t)[index].tolist(), velocities=velocity[index].tolist(),
            time_from_start=Duration(seconds=float(t)).to_msg()))
    return msg


class IKNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('ik_node', **kwargs)
        self.cfg = declare_parameters(self, IKNodeConfig)
        self.stream_cfg = declare_parameters(self, StreamConfig)
        self.ik_cfg = declare_parameters(self, IKConfig, 'ik')
        self.moveit_cfg = declare_parameters(self, MoveItConfig, 'moveit')
        self.model = RobotModel()
        try:
            self.model.frame_id(self.cfg.tip_frame)
        except KeyError as exc:
            raise ValueError(f'tip_frame: {exc.args[0]}') from exc
        if self.cfg.ik_backend == 'moveit':
            self.ik = MoveItIK(self.model, self.ik_cfg, self.moveit_cfg, self.cfg.tip_frame,
                               f'{self.get_name()}_moveit')
        else:
            self.ik = IKSolver(self.model, self.ik_cfg)
        self.frames = TargetFrames(self.cfg.base_frame, self.cfg.static_frames)
        self._apply(self.cfg)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.failures = EventCounter()
        self.solve_times = Timings(TIMING_WINDOW)
        self.plan_times = Timings(TIMING_WINDOW)
        self.targets = 0
        self.planned = 0
        self._last_outcome = 'no target yet'
        self._last_failed = False

        self.joints = JointStateMonitor(self)
        streaming = self.cfg.output in ('stream', 'both')
        self.streamer = CommandStreamer(self, self.stream_cfg, self.model.limits, publish=streaming)
        self.trajectory_pub = None
        if self.cfg.output in ('trajectory', 'both'):
            self.trajectory_pub = self.create_publisher(JointTrajectory, self.cfg.trajectory_topic, COMMAND_QOS)
        self.create_subscription(PoseStamped, 'ik/target_pose', self._on_target, COMMAND_QOS)
        self.create_subscription(Float64, 'ik/gripper', self._on_gripper, COMMAND_QOS)

        self.diagnostics = DiagnosticsPublisher(self, hardware_id='dojo_ik')
        self.diagnostics.add_task('ik', self._diagnose)
        self.diagnostics.add_task('joint_commands', self._diagnose_commands)
        if self.cfg.output == 'trajectory' and GRIPPER_JOINT not in self.cfg.trajectory_joints:
            self.get_logger().warning('output is trajectory and trajectory_joints has no gripper: ik/gripper '
                                      'commands will move nothing')
        self.get_logger().info(
            f'{self.cfg.ik_backend} IK for {self.cfg.tip_frame} in {self.cfg.base_frame}, {self.cfg.motion} motions, '
            f'output {self.cfg.output}, {"position only" if self.cfg.position_only else "soft orientation"}')

    def _apply(self, cfg: IKNodeConfig) -> None:
        velocity = self.model.limits.velocity * cfg.speed_scale
        self._joint_limits = (velocity, cfg.joint_acceleration)
        self._line_limits = LineLimits(cfg.tool_speed, cfg.tool_acceleration, velocity, cfg.joint_acceleration)
        self.cfg = cfg

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Motion settings change from the next target on; a value the config refuses is refused."""
        changes = {p.name: p.value for p in parameters if p.name in RUNTIME_PARAMETERS}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            cfg = dataclasses.replace(self.cfg, **changes)
        except (TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._apply(cfg)
        self.get_logger().info(f'parameters set: {changes}')
        return SetParametersResult(successful=True)

    # -- inputs -----------------------------------------------------------------------------------
    def _on_target(self, msg: PoseStamped) -> None:
        self.targets += 1
        try:
            position, rotation = self.frames.to_base(msg)
            start = self._start()
            plan, detail = self._plan(IKTarget(position, None if self.cfg.position_only else rotation,
                                               frame=self.cfg.tip_frame), start)
        except TargetError as exc:
            self._refuse('target', exc)
            return
        self.streamer.play(plan, 'arm', ARM_MASK)
        self._send_trajectory(plan, ARM_MASK)
        self.planned += 1
        self._last_failed = False
        frame = msg.header.frame_id or self.cfg.base_frame
        self._last_outcome = (f'moving to {np.round(position, 4).tolist()} m ({frame}) in {plan.duration:.2f} s, '
                              f'{detail}')
        self.get_logger().info(self._last_outcome)

    def _on_gripper(self, msg: Float64) -> None:
        try:
            if not (math.isfinite(msg.data) and 0.0 <= msg.data <= 1.0):
                raise TargetError('bad_gripper', f'gripper command {msg.data} is not in [0, 1] (0 = open, 1 = closed)')
            start = self._start()
        except TargetError as exc:
            self._refuse('gripper command', exc)
            return
        end = start.copy()
        end[GRIPPER] = self.cfg.gripper_open * (1.0 - msg.data)
        plan = JointPlan([Segment.within_limits(np.stack([start, end]), *self._joint_limits, 'gripper')])
        self.streamer.play(plan, 'gripper', GRIPPER_MASK)
        self._send_trajectory(plan, GRIPPER_MASK)
        self._last_failed = False
        self._last_outcome = f'gripper to {end[GRIPPER]:.3f} rad in {plan.duration:.2f} s'
        self.get_logger().info(self._last_outcome)

    def _refuse(self, what: str, error: TargetError) -> None:
        self.failures.increment(error.reason)
        self._last_failed = True
        self._last_outcome = f'{what} refused ({error.reason}): {error}'
        self.get_logger().warning(f'{self._last_outcome} [{self.failures.total()} refused so far]',
                                  throttle_duration_sec=1.0)

    # -- planning ---------------------------------------------------------------------------------
    def _start(self) -> np.ndarray:
        """Where the next motion starts: the command being held or played (continuity of the
        commands), else the measured position."""
        start = self.streamer.command
        if start is None:
            start = self.joints.position
        if start is None:
            raise TargetError('no_joint_states', 'no joint_states received yet: the arm position is unknown')
        return self.model.limits.clamp(start)

    def _plan(self, target: IKTarget, start: np.ndarray) -> tuple[JointPlan, str]:
        began = time.perf_counter()
        result = self.ik.solve(target, start)
        self.solve_times.add((time.perf_counter() - began) * 1e3)
        if not result.success:
            raise TargetError('unreachable', result.reason)
        if self.cfg.motion == 'joint':
            segment = Segment.within_limits(np.stack([start, result.q]), *self._joint_limits, 'ik')
        else:
            try:
                segment = straight_line_to(self.ik, start, result.q, self._line_limits, 'ik', self.cfg.tip_frame)
            except PlanningError as exc:
                raise TargetError('no_straight_line', str(exc)) from exc
        self.plan_times.add((time.perf_counter() - began) * 1e3)
        detail = f'IK error {result.position_error * 1e3:.2f} mm'
        if target.rotation is not None:
            detail += f' / {math.degrees(result.orientation_error):.1f} deg'
        return JointPlan([segment]), detail

    def _send_trajectory(self, plan: JointPlan, mask: np.ndarray) -> None:
        moved = [name for name, m in zip(JOINT_NAMES, mask) if m and name in self.cfg.trajectory_joints]
        if self.trajectory_pub is not None and moved:
            self.trajectory_pub.publish(plan_to_trajectory(plan, list(self.cfg.trajectory_joints),
                                                           self.streamer.period))

    # -- diagnostics ------------------------------------------------------------------------------
    def _diagnose(self) -> tuple[bytes, str, dict[str, object]]:
        values: dict[str, object] = {
            'state': self.streamer.state, 'backend': self.cfg.ik_backend, 'motion': self.cfg.motion,
            'targets': self.targets, 'planned': self.planned, 'refused': self.failures.total(),
            **{f'refused.{k}': v for k, v in sorted(self.failures.snapshot().items())},
            **self.solve_times.figures('solve_ms'), **self.plan_times.figures('plan_ms'),
            'last': self._last_outcome,
        }
        level = DiagnosticStatus.WARN if self._last_failed else DiagnosticStatus.OK
        return level, f'{self.streamer.state}; {self._last_outcome}', values

    def _diagnose_commands(self) -> tuple[bytes, str, dict[str, object]]:
        values: dict[str, object] = {
            'published': self.streamer.published, 'state': self.streamer.state,
            **self.streamer.limiter.figures(),
            **{f'joint_states_rejected.{k}': v for k, v in sorted(self.joints.rejected.snapshot().items())},
        }
        if self.joints.position is None:
            return DiagnosticStatus.WARN, 'no joint_states yet', values
        return DiagnosticStatus.OK, f'{self.streamer.published} commands published', values


def main(args: list[str] | None = None) -> int:
    init_without_signal_handlers(args)
    try:
        node = IKNode()
    except (BackendUnavailable, TypeError, ValueError) as exc:   # bad parameters or no backend: no traceback
        get_logger('ik_node').fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        spin_until_stopped(executor, node)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
