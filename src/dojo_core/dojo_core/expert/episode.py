"""Run the scripted expert on a `SimCell` without ROS: one seeded, reproducible episode per call.

The cell is stepped at its control rate with the plan sampled at the end of each control period
(the servo aims for where the arm should be when the next targets arrive). Nothing is rendered
unless `on_step` asks the cell for images, which keeps data generation and tests fast.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from dojo_core.expert.pick_place import ExpertConfig, PickPlaceExpert
from dojo_core.kinematics.cartesian import PlanningError
from dojo_core.kinematics.model import RobotModel
from dojo_core.sim.cell import SimCell
from dojo_core.sim.protocol import SETTLE_TIME_S
# The expert's random stream is seeded apart from the cell's (which draws the cube pose).
EXPERT_STREAM = 1


@dataclass
class EpisodeResult:
    """How an episode ended: `duration_s` is sim time until success (or until it gave up)."""

    success: bool
    duration_s: float
    steps: int
    reason: str = ''


def run_episode(cell: SimCell, seed: int, config: ExpertConfig | None = None, model: RobotModel | None = None,
                on_step: Callable[[SimCell, np.ndarray], None] | None = None) -> EpisodeResult:
    """Reset `cell` with `seed`, plan with the expert and play the plan until the task succeeds.

    The expert takes the bin position from the cell's config. `on_step(cell, targets)`
    is called before every control step with the joint targets about to be applied (to record
    observations and actions). Pass `model` to reuse one RobotModel over many episodes.
    """
    config = replace(config or ExpertConfig(), bin_position=list(cell.config.bin_position))
    expert = PickPlaceExpert(model or RobotModel(cell.urdf), config)
    cell.reset(seed)
    start = cell.time
    try:
        plan = expert.plan(cell.observation(render=False).joint_positions, cell.object_pose(),
                           np.random.default_rng([seed, EXPERT_STREAM]))
    except PlanningError as error:
        return EpisodeResult(False, 0.0, 0, f'planning failed: {error}')
    period = 1.0 / cell.config.control_rate_hz
    release = plan.start_time('release')
    steps = 0
    while steps * period < plan.duration + SETTLE_TIME_S:
        targets = plan.sample((steps + 1) * period)
        if on_step is not None:
            on_step(cell, targets)
        cell.step(targets)
        steps += 1
        if steps * period >= release and cell.success():
            return EpisodeResult(True, cell.time - start, steps, 'cube placed')
    position, _ = cell.object_pose()
    return EpisodeResult(False, cell.time - start, steps,
                         f'not placed after the plan: cube at {np.round(position, 3).tolist()} m, '
                         f'{"still held" if cell.cube_held() else "not held"}')
