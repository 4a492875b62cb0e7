"""The one joint-command limiter: URDF limits and a largest step per control period.

A learned policy can output anything, including a jump across the workspace right after a new
chunk, and a teleop or IK target can be far from where the arm is. Every sender of joint commands
(policy_node and the ROS-free rollouts through dojo_core.serving, ik_node and the expert through
their command streamer, arm_driver on its bus cycle) passes them through a CommandLimiter with one
parameter name, `max_step_rad`, so that what succeeds in simulation is what the robot would have
executed. It counts, per joint, the targets it clamped to the limits and the steps it cut, for
/diagnostics.
"""
from __future__ import annotations

import numpy as np

from dojo_core.metrics import EventCounter
from dojo_core.robot.description import JointLimits

# rad per control period: policy_node's and the ROS-free rollouts' default max_step_rad
DEFAULT_MAX_STEP = 0.25


class CommandLimiter:
    """Turns wanted joint targets into commands: clamped to the limits, at most `max_step` from the last command."""

    def __init__(self, limits: JointLimits, max_step: float | np.ndarray = DEFAULT_MAX_STEP) -> None:
        max_step = np.broadcast_to(np.asarray(max_step, dtype=float), limits.lower.shape).copy()
        if not np.all(max_step > 0):
            raise ValueError(f'max_step must be positive, got {max_step}')
        self.limits = limits
        self.max_step = max_step
        self.last: np.ndarray | None = None
        self.limited = 0      # commands that differed from the wanted targets
        self.step_limited = 0  # ... because a joint would have moved more than max_step
        self.clamped_joints = EventCounter()       # targets beyond a joint's limits, by joint (since creation)
        self.step_limited_joints = EventCounter()  # steps cut to max_step, by joint (since creation)

    def reset(self, position: np.ndarray) -> None:
        """Start from the measured `position`: `last` (what a hold publishes before the first command)
        is that position brought inside the limits by at most max_step, so no command is ever outside
        them by more than the arm already is and none jumps: an arm standing far outside its limits is
        walked back in one step at a time; one a rounding error outside is simply clamped."""
        position = np.asarray(position, dtype=float)
        self.last = position + np.clip(self.limits.clamp(position) - position, -self.max_step, self.max_step)
        self.limited = self.step_limited = 0

    def applied(self, command: np.ndarray) -> None:
        """The command as the hardware took it (e.g. rounded to whole servo ticks): the next step counts from it."""
        self.last = np.asarray(command, dtype=float).copy()

    def __call__(self, targets: np.ndarray) -> np.ndarray:
        """The command for this period; ValueError for a non-finite or wrongly sized target (nothing sent)."""
        if self.last is None:
            raise RuntimeError('CommandLimiter.reset(position) must be called before the first command')
        wanted = np.asarray(targets, dtype=float)
        if wanted.shape != self.last.shape or not np.all(np.isfinite(wanted)):
            raise ValueError(f'joint targets must be {self.last.shape[0]} finite values, got {wanted!r}')
        clamped = self.limits.clamp(wanted)
        # between the last command and a clamped target: inside the limits too, unless the arm started
        # outside them, when it moves back in by max_step per command rather than jumping
        command = self.last + np.clip(clamped - self.last, -self.max_step, self.max_step)
        names = np.asarray(self.limits.names)
        for joint in names[clamped != wanted]:
            self.clamped_joints.increment(str(joint))
        for joint in names[command != clamped]:
            self.step_limited_joints.increment(str(joint))
        self.step_limited += bool(np.any(command != clamped))
        self.limited += bool(np.any(command != wanted))
        self.last = command
        return command.copy()

    def figures(self) -> dict[str, int]:
        """Per-joint counters for /diagnostics: clamped.<joint>, step_limited.<joint>."""
        return {**{f'clamped.{joint}': n for joint, n in self.clamped_joints.snapshot().items()},
                **{f'step_limited.{joint}': n for joint, n in self.step_limited_joints.snapshot().items()}}
