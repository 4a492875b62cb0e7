"""Run a trained policy closed-loop on the SimCell, without ROS: one seeded episode per call.

The policy sees what it was trained on: the observation is built by `CellFeatures` exactly as
the dataset features are (state vector in feature order and units, cameras rendered as uint8
(H, W, 3)), and its actions run through `policy.select_action`, i.e. the chunk queue or temporal
ensembling its config asks for. Every command passes the same safety clamp as on the robot
(joint limits, largest step per control period), so a success here is one the robot could have
executed. A policy trained at a lower rate than the cell's control rate is asked every
control_rate / fps periods and its target held in between.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dojo_core.cell_features import CellFeatures, periods_per_frame
from dojo_core.robot.safety import DEFAULT_MAX_STEP, CommandLimiter
from dojo_core.policies import Policy
from dojo_core.sim import SimCell


@dataclass
class RolloutConfig:
    """When an episode ends without success, and how far a command may move the joints per period."""

    time_limit_s: float = field(default=30.0, metadata={
        'description': 'Sim seconds before an episode counts as failed (the expert needs about 10).',
        'range': (0.1, 3600.0)})
    max_steps: int = field(default=0, metadata={
        'description': 'Control periods before an episode counts as failed; 0 = time_limit_s decides.',
        'range': (0, 10**7)})
    max_step_rad: float = field(default=DEFAULT_MAX_STEP, metadata={
        'description': 'Largest change of any joint command per control period (rad), as on the robot.',
        'range': (1e-4, 3.0)})

    def steps(self, control_rate_hz: float) -> int:
        return self.max_steps or math.ceil(self.time_limit_s * control_rate_hz - 1e-9)


@dataclass
class RolloutResult:
    """How the episode ended. `duration_s` is sim time until success (or until it stopped); `limited_steps`
    counts commands the safety clamp changed (`step_limited_steps` of them for the step limit)."""

    success: bool
    duration_s: float
    steps: int
    reason: str
    limited_steps: int = 0
    step_limited_steps: int = 0
    inference_s: float = 0.0  # wall time spent in select_action (chunk predictions)
    wall_s: float = 0.0


def policy_period(policy: Policy, control_rate_hz: float) -> int:
    """Control periods per policy step: control rate / the policy's fps (1 when the config has no fps)."""
    return 1 if policy.config.fps is None else periods_per_frame(control_rate_hz, policy.config.fps)


def rollout(policy: Policy, cell: SimCell, seed: int, config: RolloutConfig | None = None, *,
            features: CellFeatures | None = None,
            on_step: Callable[[SimCell, np.ndarray], None] | None = None) -> RolloutResult:
    """Reset `cell` with `seed` and let `policy` act until the task succeeds or the limit is reached.

    `features` maps the cell onto the policy's features (default: radians, `CellFeatures.from_policy`);
    the cell's cameras must have the policy's image sizes. `on_step(cell, command)` is called
    before every control step with the command about to be applied (after the safety clamp).
    A non-finite action ends the episode as a failure; nothing of it is sent.
    """
    config = config or RolloutConfig()
    features = features or CellFeatures.from_policy(policy.config)
    features.check_policy(policy.config)
    features.sim_config(cell.config)  # raises if the cameras differ from the policy's
    every = policy_period(policy, cell.config.control_rate_hz)
    limiter = CommandLimiter(cell.limits, config.max_step_rad)
    started = time.perf_counter()
    cell.reset(seed)
    policy.reset()
    start = cell.time
    limiter.reset(cell.observation(render=False).joint_positions)
    target = limiter.last
    inference = 0.0

    def result(success: bool, steps: int, reason: str) -> RolloutResult:
        return RolloutResult(success, cell.time - start, steps, reason, limiter.limited, limiter.step_limited,
                             inference, time.perf_counter() - started)

    for step in range(config.steps(cell.config.control_rate_hz)):
        if step % every == 0:
            tick = time.perf_counter()
            action = policy.select_action(features.observation(cell))
            inference += time.perf_counter() - tick
            target = features.targets(action, target)
        try:
            command = limiter(target)
        except ValueError as exc:
            return result(False, step, f'policy output refused: {exc}')
        if on_step is not None:
            on_step(cell, command)
        cell.step(command)
        if cell.success():
            return result(True, step + 1, 'cube placed')
    return result(False, config.steps(cell.config.control_rate_hz), 'time limit')
