"""Run a trained policy closed-loop on the SimCell, without ROS, through the serving controller.

The episode is served by `dojo_core.serving.PolicyController`, the object behind policy_node: the
same feature binding, observation history and task, asynchronous chunk execution, holds and
command limiter. The cell's sensors go into the controller's observation buffer stamped with sim
time, the controller ticks on the sim clock, and its commands are applied for one control period
each. Inference runs synchronously, but its chunk reaches the controller only after the sim time
the inference took (`SimulatedLatency`: the measured wall time, or `latency_s`), so a rollout that
runs faster than real time still sees chunks as late as the robot would. A success here is one
the served policy would have had at real time on this machine.

The feature map says how the cell's quantities become the policy's features (units, cameras):
the checkpoint's embedded map when evaluating a checkpoint (`dojo_core.serving.resolve_feature_map`),
else the sim cell's topics in radians for the policy's features (`sim_feature_map`).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dojo_core.cell_features import CellFeatures, periods_per_frame, sim_feature_map
from dojo_core.policies import Policy
from dojo_core.robot.description import JOINT_NAMES
from dojo_core.serving import PolicyController, ServingConfig, SimulatedLatency, bind_features
from dojo_core.sim import SimCell
from dojo_core.sim.protocol import TIME_LIMIT_S
from dojo_core.sync import FeatureMap


@dataclass
class RolloutConfig:
    """When an episode ends without success, and how inference latency is simulated."""

    time_limit_s: float = field(default=TIME_LIMIT_S, metadata={
        'description': 'Sim seconds before an episode counts as failed (the expert needs about 10).',
        'range': (0.1, 3600.0)})
    max_steps: int = field(default=0, metadata={
        'description': 'Control periods before an episode counts as failed; 0 = time_limit_s decides.',
        'range': (0, 10**7)})
    latency_s: float | None = field(default=None, metadata={
        'description': 'Sim seconds between an observation and its chunk; None = the measured wall time of '
                       'each inference (what the robot waits at real time on this machine).'})

    def steps(self, control_rate_hz: float) -> int:
        return self.max_steps or math.ceil(self.time_limit_s * control_rate_hz - 1e-9)


@dataclass
class RolloutResult:
    """How the episode ended. `duration_s` is sim time until success (or until it stopped); `limited_steps`
    counts commands the safety clamp changed (`step_limited_steps` of them for the step limit); `holds`
    the control steps that repeated the last command, by reason (as policy_node counts them)."""

    success: bool
    duration_s: float
    steps: int
    reason: str
    limited_steps: int = 0
    step_limited_steps: int = 0
    inference_s: float = 0.0  # wall time spent in inference (chunk predictions)
    wall_s: float = 0.0
    holds: dict[str, int] = field(default_factory=dict)
    chunks: int = 0


def policy_period(policy: Policy, control_rate_hz: float) -> int:
    """Control periods per policy step: control rate / the policy's fps (1 when the config has no fps)."""
    return 1 if policy.config.fps is None else periods_per_frame(control_rate_hz, policy.config.fps)


def rollout(policy: Policy, cell: SimCell, seed: int, config: RolloutConfig | None = None, *,
            serving: ServingConfig | None = None, feature_map: FeatureMap | None = None, task: str = '',
            on_step: Callable[[SimCell, np.ndarray], None] | None = None) -> RolloutResult:
    """Reset `cell` with `seed` and serve `policy` on it until the task succeeds or the limit is reached.

    `serving`: the controller's settings (policy_node's defaults when None); `feature_map`: how the
    cell maps onto the policy's features (default `sim_feature_map`); the cell's cameras must have
    its image sizes. `task`: the instruction the policy reads. `on_step(cell, command)` is called
    before every control period with the command about to be applied (after the limiter).
    """
    config = config or RolloutConfig()
    feature_map = feature_map or sim_feature_map(policy.config)
    features = CellFeatures.from_feature_map(feature_map)
    features.sim_config(cell.config)  # raises if the cameras differ from the policy's
    binding = bind_features(policy.config, feature_map, source='the rollout feature map')
    controller = PolicyController(policy, binding, serving or ServingConfig(), cell.limits.subset(binding.joints),
                                  fallback_fps=feature_map.fps,
                                  worker=lambda predict: SimulatedLatency(predict, config.latency_s))
    every = periods_per_frame(cell.config.control_rate_hz, controller.rate_hz)
    joint_index = [JOINT_NAMES.index(joint) for joint in binding.joints]
    started = time.perf_counter()
    cell.reset(seed)
    controller.observations.task = task
    start = cell.time
    target = cell.observation(render=False).joint_positions.copy()
    steps = config.steps(cell.config.control_rate_hz)

    def result(success: bool, step: int, reason: str) -> RolloutResult:
        limiter = controller.limiter
        return RolloutResult(success, cell.time - start, step, reason, limiter.limited, limiter.step_limited,
                             controller.inference_s, time.perf_counter() - started,
                             controller.holds.snapshot(), controller.events.snapshot().get('chunks', 0))

    try:
        for step in range(steps):
            if step % every == 0:
                now_ns = round((cell.time - start) * 1e9)
                observation = features.observation(cell)
                for name in binding.observed:
                    controller.observations.put(name, now_ns, observation[name])
                tick = controller.tick(now_ns)
                if tick is not None and tick.command is not None:
                    target[joint_index] = tick.command
            if on_step is not None:
                on_step(cell, target.copy())
            cell.step(target)
            if cell.success():
                return result(True, step + 1, 'cube placed')
        return result(False, steps, 'time limit')
    finally:
        controller.close()
