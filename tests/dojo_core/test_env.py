"""The gymnasium face of the cell: API conformance, determinism, sparse success reward."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

from dojo_core.sim import SimConfig
from dojo_core.sim.env import ENV_ID, PickPlaceEnv, register


def small_config() -> SimConfig:
    config = SimConfig()
    config.front_camera.width, config.front_camera.height = 64, 48
    config.wrist_camera.width, config.wrist_camera.height = 32, 24
    return config


def test_env_passes_gymnasium_checker():
    env = PickPlaceEnv(small_config())
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs['pixels']['front'].shape == (48, 64, 3) and obs['agent_pos'].shape == (6,)
    assert 'cube' in info['task']
    env.close()


def test_registered_env_is_deterministic_per_seed():
    register()
    a = gym.make(ENV_ID, pixels=False, config=small_config())
    b = gym.make(ENV_ID, pixels=False, config=small_config())
    oa, ia = a.reset(seed=11)
    ob, ib = b.reset(seed=11)
    np.testing.assert_array_equal(ia['object_position'], ib['object_position'])
    action = a.action_space.sample()
    for _ in range(5):
        oa, *_ = a.step(action)
        ob, *_ = b.step(action)
    np.testing.assert_array_equal(oa['agent_pos'], ob['agent_pos'])
    _, ic = b.reset(seed=12)
    assert not np.allclose(ia['object_position'], ic['object_position'])
    assert a.spec.max_episode_steps == 600


def test_success_gives_reward_and_terminates():
    env = PickPlaceEnv(small_config(), pixels=False)
    env.reset(seed=0)
    hold = env.cell.joint_targets()
    _, reward, terminated, truncated, info = env.step(hold)
    assert reward == 0.0 and not terminated and not truncated and not info['is_success']
    env.cell.set_object_pose([*env.cell.config.bin_position, 0.04])
    for _ in range(40):
        _, reward, terminated, _, info = env.step(hold)
        if terminated:
            break
    assert terminated and reward == 1.0 and info['is_success']
