"""sim_node: the MuJoCo SO-101 cell on ROS 2, in sim time.

The node is the cell's clock: a stepping thread advances physics one control period at a time,
publishes `/clock`, then the sensor topics stamped with that sim time, and paces itself against
the wall clock by `real_time_factor` (0 = as fast as possible). It speaks the
JointStateTopicSystem contract (`joint_commands` in, `joint_states` out, both sensor_msgs/JointState
matched by name), so ros2_control's topic-based hardware and the dojo nodes drive it alike.

Bad commands (unknown joints, NaN/inf, mismatched array lengths) are rejected whole, counted by
reason on /diagnostics and warned about at most once a second; targets beyond the joint limits are
clamped and counted. Nothing a client sends can stop the stepping thread.

Stamped commands apply in stamp order: the executor serves callbacks on two threads, so two
commands that arrive together can be taken in either order, and a command stamped before the
newest one applied, or before the last `sim/reset`, is dropped (counted as superseded). Without
that, a client's last command of an episode could land after the reset and pull the arm of the
new episode back towards the old pose. A command stamped more than `command_future_tolerance`
ahead of sim time is rejected (counted as 'future'): taken as the newest, it would make every
later command superseded and freeze the arm until sim time caught up (dojo_core.sync.StampGuard
holds the rule). Unstamped commands (stamp 0) always apply.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from dojo_core.cameras.camera_info import pinhole_calibration
from dojo_core.sim import TASKS, SimCell, SimConfig
from dojo_core.sync import StampError, StampGuard
from dojo_ros.camera_info import camera_info_msg
from dojo_ros.diagnostics import DiagnosticsPublisher, EventCounter, RateMeter
from dojo_ros.image import numpy_to_image
from dojo_ros.joint_state import JointStateError, joint_state_to_vector, unknown_joints, vector_to_joint_state
from dojo_ros.params import declare_parameters
from dojo_ros.qos import CLOCK_QOS, COMMAND_QOS, LATCHED_QOS
from dojo_ros.runner import run_node, shut_down_on_crash


@dataclass
class SimNodeConfig:
    """Node-level settings; the cell's own settings are the SimConfig parameters."""

    task: str = field(default='pick_place', metadata={'description': f'Task of the cell, one of {sorted(TASKS)}.',
                                                      'read_only': True})
    seed: int = field(default=0, metadata={
        'description': 'Seed of the first episode; reset number k uses seed + k, so runs are reproducible.'})
    real_time_factor: float = field(default=1.0, metadata={
        'description': 'Sim seconds per wall second to aim for; 0 runs as fast as possible.',
        'range': (0.0, 100.0)})
    base_frame: str = field(default='base_link', metadata={
        'description': 'frame_id of sim/object_pose (the URDF root; the cell world coincides with it).'})
    frame_prefix: str = field(default='', metadata={
        'description': 'Prefix of URDF frame ids in published headers (matches the xacro prefix argument).'})
    command_future_tolerance: float = field(default=1.0, metadata={
        'description': 'Seconds a joint command may be stamped ahead of sim time; later stamps are rejected '
                       '(a client on the wall clock instead of use_sim_time, a bogus stamp).',
        'range': (0.0, 3600.0)})

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f'task must be one of {sorted(TASKS)}, got {self.task!r}')


def _stamp(seconds: float) -> Time:
    ns = _ns(seconds)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


class SimNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('sim_node', **kwargs)
        self.cfg = declare_parameters(self, SimNodeConfig)
        self.sim_cfg = declare_parameters(self, SimConfig)
        self.cell = SimCell(self.sim_cfg, task=self.cfg.task, seed=self.cfg.seed)
        self.names = list(self.cell.joint_names)
        self._lock = threading.Lock()            # guards the cell between stepping thread and callbacks
        self._targets = self.cell.joint_targets()
        self._episode = 0

        self.rejected = EventCounter()
        self.clamped = EventCounter()
        self.superseded = EventCounter()       # stamped commands older than one applied, or than a reset
        self._command_stamps = StampGuard.from_seconds(self.cfg.command_future_tolerance)
        self.control_rate = RateMeter()
        self.camera_rates = {name: RateMeter() for name in self.sim_cfg.cameras}
        self._last_warn = 0.0
        self._rtf = 0.0

        self.clock_pub = self.create_publisher(Clock, '/clock', CLOCK_QOS)
        self.joint_pub = self.create_publisher(JointState, 'joint_states', 10)
        self.pose_pub = self.create_publisher(PoseStamped, 'sim/object_pose', 10)
        self.success_pub = self.create_publisher(Bool, 'sim/success', 10)
        self.task_pub = self.create_publisher(String, 'task', LATCHED_QOS)
        self.image_pubs = {n: self.create_publisher(Image, f'cameras/{n}/image_raw', 5) for n in self.sim_cfg.cameras}
        self.info_pubs = {n: self.create_publisher(CameraInfo, f'cameras/{n}/camera_info', 5)
                          for n in self.sim_cfg.cameras}
        self.create_subscription(JointState, 'joint_commands', self._on_command, COMMAND_QOS)
        self.create_subscription(PoseStamped, 'sim/set_object_pose', self._on_set_object_pose, COMMAND_QOS)
        self.create_service(Trigger, 'sim/reset', self._on_reset)
        self.task_pub.publish(String(data=self.cell.task_description))

        self.diagnostics = DiagnosticsPublisher(self, hardware_id='dojo_sim')
        self.diagnostics.add_task('simulation', self._diagnose)
        self.diagnostics.add_task('joint_commands', self._diagnose_commands)

        self._camera_info = {n: self._make_camera_info(n) for n in self.sim_cfg.cameras}
        self._next_frame = {n: 0.0 for n in self.sim_cfg.cameras}
        # ROS time never goes back: a reset restarts the cell's clock at 0, so the published time
        # is the cell time plus the sim time of every earlier episode.
        self._time_offset = 0.0
        self._running = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name='sim_stepping', daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._running.set()
        self._thread.start()

    def stop(self) -> bool:
        """Stop stepping; False if the stepping thread had died of an error (logged already)."""
        self._running.clear()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        return self._error is None

    # -- stepping thread --------------------------------------------------------------------------
    def _run(self) -> None:
        """Thread body. The renderers' GL contexts belong to this thread, so it also closes them."""
        try:
            self._step_loop()
        except Exception as exc:  # noqa: BLE001 - a dead stepping thread must take the node down
            if shut_down_on_crash(self, 'sim stepping', exc):
                self._error = exc
        finally:
            self.cell.close()

    def _step_loop(self) -> None:
        wall0, sim0 = time.monotonic(), self._sim_time()
        while self._running.is_set() and rclpy.ok(context=self.context):
            with self._lock:
                self.cell.step(self._targets)
                self._publish_state()
            now = time.monotonic()
            self.control_rate.tick(now)
            rtf_target = self.cfg.real_time_factor
            sim_elapsed = self._sim_time() - sim0
            if rtf_target > 0:
                delay = wall0 + sim_elapsed / rtf_target - now
                if delay > 0:
                    time.sleep(delay)
                elif delay < -0.5:          # fell behind (slow rendering): do not try to catch up
                    wall0, sim0 = now, self._sim_time()
            elapsed = time.monotonic() - wall0
            self._rtf = sim_elapsed / elapsed if elapsed > 0 else 0.0

    def _sim_time(self) -> float:
        return self._time_offset + self.cell.time

    def _publish_state(self) -> None:
        t = self._sim_time()
        stamp = _stamp(t)
        self.clock_pub.publish(Clock(clock=stamp))
        obs = self.cell.observation(render=False)
        self.joint_pub.publish(vector_to_joint_state(self.names, obs.joint_positions, obs.joint_velocities,
                                                     stamp=stamp))
        position, q = self.cell.object_pose()
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, self._frame(self.cfg.base_frame)
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = (float(v) for v in position)
        pose.pose.orientation.w, pose.pose.orientation.x, pose.pose.orientation.y, pose.pose.orientation.z = \
            (float(v) for v in q)
        self.pose_pub.publish(pose)
        self.success_pub.publish(Bool(data=self.cell.success()))
        for name, cam in self.sim_cfg.cameras.items():
            if cam.rate_hz <= 0 or t + 1e-9 < self._next_frame[name]:
                continue
            self._next_frame[name] = max(self._next_frame[name] + 1.0 / cam.rate_hz, t)
            frame_id = self._frame(f'{name}_camera_optical_frame')
            self.image_pubs[name].publish(numpy_to_image(self.cell.render(name), 'rgb8', stamp=stamp,
                                                         frame_id=frame_id))
            info = self._camera_info[name]
            info.header.stamp = stamp
            self.info_pubs[name].publish(info)
            self.camera_rates[name].tick(t)

    def _frame(self, name: str) -> str:
        return f'{self.cfg.frame_prefix}{name}'

    def _make_camera_info(self, camera: str) -> CameraInfo:
        intr = self.cell.intrinsics(camera)
        calibration = pinhole_calibration(intr.width, intr.height, intr.fx, intr.fy, intr.cx, intr.cy, camera)
        return camera_info_msg(calibration, self._frame(f'{camera}_camera_optical_frame'))

    # -- inputs -----------------------------------------------------------------------------------
    def _reject(self, reason: str, detail: str) -> None:
        self.rejected.increment(reason)
        now = time.monotonic()
        if now - self._last_warn >= 1.0:
            self._last_warn = now
            self.get_logger().warning(f'rejected joint command ({reason}): {detail} '
                                      f'[{self.rejected.total()} rejected so far]')

    def _on_command(self, msg: JointState) -> None:
        unknown = unknown_joints(msg, self.names)
        if unknown:
            self._reject('unknown_joint', f'joints {unknown} are not in {self.names}')
            return
        try:
            values = joint_state_to_vector(msg, self.names, 'position', allow_missing=True)
        except JointStateError as exc:
            self._reject(exc.reason, str(exc))
            return
        given = ~np.isnan(values)
        if not given.any():
            self._reject('empty', 'no joint positions in the command')
            return
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self._lock:
            if stamp:
                try:
                    self._command_stamps.admit(stamp, _ns(self._sim_time()))
                except StampError as exc:
                    if exc.reason == 'future':
                        self._reject(exc.reason, f'{exc} (sim time): is the client on use_sim_time?')
                    else:
                        self.superseded.increment(exc.reason)
                    return
            targets = self._targets.copy()
            targets[given] = values[given]
            clamped = self.cell.limits.clamp(targets)
            for name in np.asarray(self.names)[clamped != targets]:
                self.clamped.increment(str(name))
            self._targets = clamped

    def _on_set_object_pose(self, msg: PoseStamped) -> None:
        if msg.header.frame_id not in ('', self._frame(self.cfg.base_frame)):
            self.rejected.increment('object_pose_frame')
            self.get_logger().warning(f'rejected sim/set_object_pose in frame {msg.header.frame_id!r}: '
                                      f'poses must be in {self._frame(self.cfg.base_frame)!r}')
            return
        p, o = msg.pose.position, msg.pose.orientation
        values = np.array([p.x, p.y, p.z, o.w, o.x, o.y, o.z])
        if not np.all(np.isfinite(values)) or np.linalg.norm(values[3:]) < 1e-9:
            self.rejected.increment('bad_object_pose')
            self.get_logger().warning('rejected sim/set_object_pose: non-finite position or zero quaternion')
            return
        with self._lock:
            self.cell.set_object_pose(values[:3], values[3:])

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            self._episode += 1
            self._time_offset += self.cell.time
            self.cell.reset(self.cfg.seed + self._episode)
            self._targets = self.cell.joint_targets()
            # Commands stamped before the reset, or before the newest one applied, stay refused.
            self._command_stamps.reset(max(_ns(self._time_offset), self._command_stamps.last_ns or 0))
            position, _ = self.cell.object_pose()
        response.success = True
        response.message = (f'episode {self._episode} (seed {self.cfg.seed + self._episode}): cube at '
                            f'x={position[0]:.3f} y={position[1]:.3f} m')
        self.get_logger().info(response.message)
        return response

    # -- diagnostics ------------------------------------------------------------------------------
    def _diagnose(self) -> tuple[int, str, dict[str, object]]:
        values: dict[str, object] = {
            'sim_time_s': self._sim_time(),
            'episode': self._episode,
            'control_rate_hz (wall)': self.control_rate.rate(),
            'real_time_factor': self._rtf,
            'real_time_factor_target': self.cfg.real_time_factor,
        }
        for name, meter in self.camera_rates.items():
            values[f'{name}_camera_rate_hz (sim)'] = meter.rate()
        lagging = self.cfg.real_time_factor > 0 and self._rtf < 0.9 * self.cfg.real_time_factor
        level = DiagnosticStatus.WARN if lagging else DiagnosticStatus.OK
        return level, 'running slower than real_time_factor' if lagging else 'running', values

    def _diagnose_commands(self) -> tuple[int, str, dict[str, object]]:
        rejected, clamped, superseded = self.rejected.snapshot(), self.clamped.snapshot(), self.superseded.snapshot()
        values = {**{f'rejected.{k}': v for k, v in rejected.items()}, **{f'clamped.{k}': v for k, v in clamped.items()},
                  **{f'superseded.{k}': v for k, v in superseded.items()}}
        level = DiagnosticStatus.WARN if rejected else DiagnosticStatus.OK
        message = (f'{sum(rejected.values())} rejected, {sum(clamped.values())} clamped, '
                   f'{sum(superseded.values())} superseded')
        return level, message, values


def main(args: list[str] | None = None) -> int:
    return run_node('sim_node', SimNode, args)


if __name__ == '__main__':
    sys.exit(main())
