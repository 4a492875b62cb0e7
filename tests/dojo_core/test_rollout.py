"""ROS-free evaluation: policy rollouts on the SimCell behind the robot's safety clamp, the scripted expert
as reference, and the success statistics and report files shared with the ROS `dojo eval`."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dojo_core.evaluation import (CellFeatures, CommandLimiter, EpisodeOutcome, EvalReport, RolloutConfig, evaluate,
                                  rollout, wilson_interval, write_report)
from dojo_core.cell_features import sim_feature_map
from dojo_core.dataset.stats import numeric_stats
from dojo_core.evaluation.rollout import policy_period
from dojo_core.expert import ExpertConfig
from dojo_core.policies import FeatureType, PolicyFeature, dataset_features, make_policy
from dojo_core.policies.features import ENV_STATE_KEY
from dojo_core.policies.act import ACTConfig
from dojo_core.robot.description import JOINT_NAMES
from dojo_core.serving import NON_FINITE, ServingConfig
from dojo_core.sim import SimCell, SimConfig
from dojo_core.sync import FeatureMap
from dojo_core.training.synthetic import SyntheticEpisodes

pytestmark = pytest.mark.usefixtures('torch_one_thread')

FEATURES_DIR = Path(__file__).resolve().parents[2] / 'config' / 'features'


def tiny_policy(data: SyntheticEpisodes, features=None, stats=None, **overrides):
    """An untrained tiny ACT normalising with the data's stats: its actions are arbitrary but in range."""
    inputs, outputs = dataset_features(features or data.features)
    config = ACTConfig.tiny(input_features=inputs, output_features=outputs, fps=30, **overrides)
    return make_policy(config, stats or data.stats).eval()


@pytest.fixture(scope='module')
def data() -> SyntheticEpisodes:
    return SyntheticEpisodes(n_episodes=1, episode_length=10, image_size=(24, 32))


@pytest.fixture(scope='module')
def cell(data):
    c = SimCell(CellFeatures.from_policy(tiny_policy(data).config).sim_config())
    yield c
    c.close()


def collect(commands: list):
    def on_step(cell, command):
        commands.append(command)
    return on_step


@pytest.mark.parametrize('execution', [{}, {'n_action_steps': 1, 'temporal_ensemble_coeff': 0.01}])
def test_rollout_runs_the_policy_behind_the_limits(data, cell, execution):
    policy = tiny_policy(data, **execution)
    commands: list[np.ndarray] = []
    result = rollout(policy, cell, seed=0, config=RolloutConfig(max_steps=12, latency_s=0.0),
                     serving=ServingConfig(max_step_rad=0.02), on_step=collect(commands))
    assert (result.success, result.steps, result.reason) == (False, 12, 'time limit')
    assert result.duration_s == pytest.approx(12 / 30) and result.inference_s > 0
    assert result.holds == {}   # chunks without latency: every step acts
    cell.reset(0)
    path = np.array([cell.observation(render=False).joint_positions, *commands])
    assert np.all(path[1:] >= cell.limits.lower) and np.all(path[1:] <= cell.limits.upper)
    # the first step counts from the measured position as the policy sees it (float32, as in the dataset)
    assert np.abs(np.diff(path, axis=0)).max() <= 0.02 + 1e-6
    assert result.step_limited_steps > 0 and result.limited_steps >= result.step_limited_steps


def test_a_policy_in_lerobot_units_gets_its_observation_and_commands_in_radians(data):
    """Trained on a degrees / gripper-percent dataset: the map of that dataset converts both ways."""
    raw = yaml.safe_load((FEATURES_DIR / 'so101_sim_lerobot_units.yaml').read_text())
    raw['features']['observation.images.front'].update(height=24, width=32)
    raw['features']['observation.images.wrist'].update(height=24, width=32)
    fmap = FeatureMap.from_dict(raw)
    units = fmap.features['action'].joint_units
    stats = {**data.stats}
    for key in ('observation.state', 'action'):  # the synthetic stats, moved into degrees and percent
        stats[key] = {**stats[key], 'mean': units.to_dataset(stats[key]['mean']),
                      'std': stats[key]['std'] * (units.to_dataset(np.ones(6)) - units.to_dataset(np.zeros(6)))}
    policy = tiny_policy(data, features=fmap.lerobot_features(), stats=stats)
    features = CellFeatures.from_feature_map(fmap)
    cell = SimCell(features.sim_config())
    commands: list[np.ndarray] = []
    result = rollout(policy, cell, seed=1, config=RolloutConfig(max_steps=5, latency_s=0.0),
                     serving=ServingConfig(max_step_rad=3.0), feature_map=fmap, on_step=collect(commands))
    assert result.steps == 5
    cell.reset(1)
    chunk = policy.predict_chunk(features.observation(cell))
    assert chunk[0, 0] == pytest.approx(np.degrees(commands[0][0]), abs=1e-3)  # the policy speaks degrees
    limiter = CommandLimiter(cell.limits, 3.0)
    limiter.reset(cell.observation(render=False).joint_positions)
    np.testing.assert_allclose(commands[0], limiter(units.to_ros(chunk[0])))
    cell.close()
    with pytest.raises(ValueError, match='holds'):  # a radians policy does not fit the degrees map's names
        features.check_policy(dataclasses.replace(
            policy.config, input_features={**policy.config.input_features,
                                           'observation.state': dataclasses.replace(
                                               policy.config.input_features['observation.state'],
                                               names=tuple(f'{j}.vel' for j in JOINT_NAMES))}))


def test_a_state_only_policy_is_served_the_cube_pose_without_rendering(monkeypatch):
    """A policy trained on so101_sim_state.yaml (joints + cube pose): sim_feature_map gives back that map's
    features, and the rollout feeds the policy the pose CellFeatures reads, no camera rendered."""
    state_map = FeatureMap.from_yaml(FEATURES_DIR / 'so101_sim_state.yaml')
    data = SyntheticEpisodes(n_episodes=1, episode_length=10, cameras=())
    features = CellFeatures.from_feature_map(state_map)
    cell = SimCell(features.sim_config())
    spawned = []
    for seed in range(8):
        cell.reset(seed)
        spawned.append(features.observation(cell)[ENV_STATE_KEY])
    policy = tiny_policy(data, features=state_map.lerobot_features(),
                         stats={**data.stats, ENV_STATE_KEY: numeric_stats(np.array(spawned))})
    assert sim_feature_map(policy.config).features == state_map.features
    features.check_policy(policy.config)
    renamed = PolicyFeature(FeatureType.ENV, (7,), tuple('abcdefg'))
    other = dataclasses.replace(policy.config, input_features={**policy.config.input_features, ENV_STATE_KEY: renamed})
    with pytest.raises(ValueError, match='must be the cube pose'):
        sim_feature_map(other)
    with pytest.raises(ValueError, match='holds'):
        features.check_policy(other)

    def render(cell, camera):
        raise AssertionError(f'rendered {camera} for a policy without cameras')
    monkeypatch.setattr(SimCell, 'render', render)
    commands: list[np.ndarray] = []
    result = rollout(policy, cell, seed=2, config=RolloutConfig(max_steps=3, latency_s=0.0),
                     serving=ServingConfig(max_step_rad=3.0), on_step=collect(commands))
    assert result.steps == 3 and result.holds == {}
    cell.reset(2)
    chunk = policy.predict_chunk(features.observation(cell))
    limiter = CommandLimiter(cell.limits, 3.0)
    limiter.reset(cell.observation(render=False).joint_positions)
    np.testing.assert_allclose(commands[0], limiter(chunk[0]), atol=1e-6)
    cell.set_object_pose([0.23, 0.05, 0.0125])  # the same arm, another cube: another chunk
    assert np.abs(policy.predict_chunk(features.observation(cell)) - chunk).max() > 1e-3
    cell.close()


def test_broken_policies_and_mismatched_cells_are_refused(data, cell):
    policy = tiny_policy(data)
    with torch.no_grad():  # a checkpoint whose training diverged
        for parameter in policy.model.parameters():
            parameter.fill_(float('nan'))
    commands: list[np.ndarray] = []
    result = rollout(policy, cell, seed=0, config=RolloutConfig(max_steps=3, latency_s=0.0), on_step=collect(commands))
    assert not result.success and result.holds == {NON_FINITE: 3}     # held, as policy_node holds
    cell.reset(0)
    np.testing.assert_allclose(commands, [cell.observation(render=False).joint_positions] * 3, atol=1e-6)
    big = SimCell(SimConfig())
    with pytest.raises(ValueError, match='32x24 but the cell renders front at 640x480'):
        rollout(tiny_policy(data), big, seed=0)
    big.close()
    assert policy_period(tiny_policy(data), 30.0) == 1
    slow = tiny_policy(data)
    slow.config.fps = 15
    assert policy_period(slow, 30.0) == 2
    slow.config.fps = 20
    with pytest.raises(ValueError, match='does not divide'):
        policy_period(slow, 30.0)


def test_command_limiter_clamps_and_limits_steps(cell):
    limiter = CommandLimiter(cell.limits, max_step=0.1)
    with pytest.raises(RuntimeError, match='reset'):
        limiter(np.zeros(6))
    start = np.clip(np.zeros(6), cell.limits.lower, cell.limits.upper)
    limiter.reset(start)
    np.testing.assert_allclose(limiter(start + 0.05), start + 0.05)
    far = cell.limits.upper + 1.0
    command = limiter(far)
    np.testing.assert_allclose(command, start + 0.15)
    for _ in range(100):
        command = limiter(far)
    np.testing.assert_allclose(command, cell.limits.upper)
    assert limiter.limited == 101 and limiter.step_limited < 101
    figures = limiter.figures()   # per joint, for /diagnostics
    assert all(figures[f'clamped.{joint}'] == 101 for joint in JOINT_NAMES)
    assert 0 < figures['step_limited.shoulder_pan'] < 101 and 'clamped.nothing' not in figures
    with pytest.raises(ValueError, match='finite'):
        limiter(np.full(6, np.nan))
    np.testing.assert_allclose(limiter.last, cell.limits.upper)  # nothing sent
    outside = cell.limits.upper + 0.3          # an arm standing past its limits is walked back, never jumped
    limiter.reset(outside)
    np.testing.assert_allclose(limiter.last, outside - 0.1)        # the hold before the first command
    first = limiter(cell.limits.upper)
    np.testing.assert_allclose(first, outside - 0.2)
    limiter.applied(first + 0.01)              # what the hardware took (e.g. whole ticks) is the next reference
    np.testing.assert_allclose(limiter(cell.limits.upper), outside - 0.29)
    limiter.reset(cell.limits.upper + 1e-8)    # a float32 reading a hair past a limit holds at the limit
    np.testing.assert_array_equal(limiter.last, cell.limits.upper)


def test_evaluate_policy_and_expert_on_the_same_seeds(data):
    policy_report = evaluate(tiny_policy(data), [7, 8], name='tiny', rollout_config=RolloutConfig(max_steps=4))
    expert_report = evaluate(ExpertConfig(), [7, 8])
    assert [e.seed for e in policy_report.episodes] == [e.seed for e in expert_report.episodes] == [7, 8]
    assert (policy_report.successes, policy_report.trials) == (0, 2) and policy_report.mean_time_to_success is None
    assert expert_report.successes == 2 and 3.0 < expert_report.mean_time_to_success < 15.0
    assert policy_report.info['max_steps'] == 4 and expert_report.info['agent'].startswith('scripted')
    with pytest.raises(TypeError, match='Policy or an ExpertConfig'):
        evaluate('expert', [0])


def test_wilson_interval_matches_published_values():
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0, 5) == pytest.approx((0.0, 0.4345), abs=1e-4)
    assert wilson_interval(5, 5) == pytest.approx((0.5655, 1.0), abs=1e-4)
    assert wilson_interval(8, 10, confidence=0.99)[0] < 0.4902
    for bad in ((3, 2), (0, 0), (-1, 4)):
        with pytest.raises(ValueError):
            wilson_interval(*bad)


def test_report_statistics_and_files(tmp_path):
    policy = EvalReport('act', [EpisodeOutcome(s, s % 5 != 0, 5.0 + s, 150 + s) for s in range(10)],
                        {'checkpoint': 'runs/act'})
    empty = EvalReport('nothing yet')
    assert (policy.successes, policy.trials, policy.success_rate) == (8, 10, 0.8)
    assert policy.mean_time_to_success == 10.0
    assert policy.summary() == 'act: 8/10 = 80.0 % (95 % CI 49.0-94.3 %), mean time to success 10.00 s'
    assert math.isnan(empty.success_rate) and empty.summary() == 'nothing yet: no episodes'

    files = write_report([policy, empty], tmp_path / 'eval', title='ACT vs nothing')
    markdown = files.markdown.read_text()
    assert '| act | 10 | 8 | 80.0 % | 49.0 % - 94.3 % | 10.00 s |' in markdown
    assert '| 5 | no | 10.00 s | 155 |  |' in markdown and '- checkpoint: runs/act' in markdown
    data = json.loads(files.json.read_text())
    assert data['title'] == 'ACT vs nothing' and data['reports'][0]['interval'] == pytest.approx([0.4902, 0.9433],
                                                                                                   abs=1e-4)
    assert EvalReport.from_dict(data['reports'][0]) == policy
    assert files.png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
