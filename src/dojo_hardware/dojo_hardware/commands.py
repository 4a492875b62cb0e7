"""Position commands (sensor_msgs/JointState, by name) checked before they can reach a motor.

The JointStateTopicSystem contract: a command names any subset of the joints, in any order; joints
it leaves out keep their target. A command naming a joint the driver does not have, carrying
NaN/inf, or with fewer positions than names is rejected whole (a partial application of a
malformed command could move the arm somewhere nobody asked for); positions beyond the limits are
clamped. Both are counted (rejections by reason, clamps by joint) for /diagnostics and warned
about at most once a second.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.impl.rcutils_logger import RcutilsLogger
from sensor_msgs.msg import JointState

from dojo_core.robot.description import JointLimits
from dojo_ros.diagnostics import EventCounter, TaskResult
from dojo_ros.joint_state import JointStateError, joint_state_to_vector, unknown_joints

from dojo_hardware.limits import clamp_counted


class CommandFilter:
    """Turns JointState commands into clamped targets for `names`; counts what it rejects, clamps, ignores."""

    def __init__(self, names: Sequence[str], logger: RcutilsLogger):
        self.names = list(names)
        self.logger = logger
        self.rejected = EventCounter()  # by reason
        self.clamped = EventCounter()  # by joint
        self.ignored = EventCounter()  # well-formed commands that arrived while not following, by state

    def positions(self, msg: JointState) -> np.ndarray | None:
        """The commanded positions in `names` order, NaN for joints the command leaves out; None if rejected."""
        unknown = unknown_joints(msg, self.names)
        if unknown:
            return self._reject('unknown_joint', f'joints {unknown} are not in {self.names}')
        try:
            values = joint_state_to_vector(msg, self.names, 'position', allow_missing=True)
        except JointStateError as exc:
            return self._reject(exc.reason, str(exc))
        if np.isnan(values).all():
            return self._reject('empty', 'no joint positions in the command')
        return values

    def merge(self, values: np.ndarray, target: np.ndarray, limits: JointLimits) -> np.ndarray:
        """`target` with the commanded joints replaced by `values`, clamped to `limits` (clamps counted)."""
        given = ~np.isnan(values)
        merged = target.copy()
        merged[given] = clamp_counted(values, limits, self.clamped)[given]
        return merged

    def ignore(self, state: str) -> None:
        self.ignored.increment(state)
        self.logger.info(f'ignoring joint_commands while {state}: activate the driver to follow them',
                         throttle_duration_sec=5.0)

    def diagnose(self) -> TaskResult:
        rejected, clamped, ignored = self.rejected.snapshot(), self.clamped.snapshot(), self.ignored.snapshot()
        values = {**{f'rejected.{k}': v for k, v in rejected.items()},
                  **{f'clamped.{k}': v for k, v in clamped.items()},
                  **{f'ignored.{k}': v for k, v in ignored.items()}}
        level = DiagnosticStatus.WARN if rejected else DiagnosticStatus.OK
        return level, (f'{sum(rejected.values())} rejected, {sum(clamped.values())} clamped, '
                       f'{sum(ignored.values())} ignored while not active'), values

    def _reject(self, reason: str, detail: str) -> None:
        self.rejected.increment(reason)
        self.logger.warning(f'rejected joint command ({reason}): {detail} [{self.rejected.total()} rejected so far]',
                            throttle_duration_sec=1.0)
        return None
