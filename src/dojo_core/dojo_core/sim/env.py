"""gymnasium face of the cell, for RL and for LeRobot-style gym evaluation.

Observation follows the gym_aloha / gym_pusht convention LeRobot users know: `agent_pos` (joint
positions, rad) and `pixels` (one RGB array per camera). Action: absolute joint position targets
(rad) in JOINT_NAMES order, clamped to the URDF limits by the cell. Reward is sparse: 1 on the
step the task succeeds, which also terminates the episode; `max_episode_steps` truncates.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dojo_core.sim.cell import SimCell
from dojo_core.sim.config import SimConfig

ENV_ID = 'dojo/PickPlace-v0'


class PickPlaceEnv(gym.Env):
    metadata = {'render_modes': ['rgb_array'], 'render_fps': 30}

    def __init__(self, config: SimConfig | None = None, render_mode: str | None = 'rgb_array',
                 pixels: bool = True, urdf: str | None = None):
        self.cell = SimCell(config, urdf=urdf)
        self.render_mode = render_mode
        self.pixels = pixels
        self.metadata = {**self.metadata, 'render_fps': self.cell.config.control_rate_hz}
        limits = self.cell.limits
        self.action_space = spaces.Box(limits.lower.astype(np.float32), limits.upper.astype(np.float32))
        obs: dict[str, spaces.Space] = {
            'agent_pos': spaces.Box(limits.lower.astype(np.float32), limits.upper.astype(np.float32)),
        }
        if pixels:
            obs['pixels'] = spaces.Dict({
                name: spaces.Box(0, 255, (cam.height, cam.width, 3), np.uint8)
                for name, cam in self.cell.config.cameras.items()})
        self.observation_space = spaces.Dict(obs)

    def _obs(self) -> dict[str, Any]:
        o = self.cell.observation(render=self.pixels)
        out: dict[str, Any] = {'agent_pos': o.joint_positions.astype(np.float32)}
        if self.pixels:
            out['pixels'] = o.images
        return out

    def _info(self) -> dict[str, Any]:
        position, quat = self.cell.object_pose()
        return {'is_success': self.cell.success(), 'object_position': position, 'object_quaternion': quat,
                'task': self.cell.task_description}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # Draw the cell's seed from the env's generator so that reset() without a seed still varies.
        self.cell.reset(int(self.np_random.integers(2**31)))
        return self._obs(), self._info()

    def step(self, action):
        self.cell.step(np.asarray(action, dtype=float))
        info = self._info()
        reward = 1.0 if info['is_success'] else 0.0
        return self._obs(), reward, info['is_success'], False, info

    def render(self):
        return self.cell.render('front')

    def close(self):
        self.cell.close()


def register() -> None:
    """Register `dojo/PickPlace-v0` with gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point='dojo_core.sim.env:PickPlaceEnv', max_episode_steps=600)
