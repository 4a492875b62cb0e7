"""Regression test of learning and serving together, for every method: a tiny policy (ACT, Diffusion) trained
on one recorded expert episode
reproduces that episode's actions when the episode's observations are replayed, frame by frame, through the
serving controller that policy_node and every rollout use (feature binding, chunk queue, limiter).

Each chunk comes from the recorded observation of the step it was requested at, so the commands are the
policy's open-loop predictions of the recorded actions: a broken link anywhere (dataset columns or video
frames, normalisation, training targets, checkpoint, embedded feature map, serving's action alignment)
shows up as a large error. The untrained policy of the same architecture and normalisation fails the
same tolerance by far, so the test can fail.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dojo_core.dataset import LeRobotDatasetReader
from dojo_core.expert.dataset import record_expert_dataset
from dojo_core.policies import Policy, load_policy, make_policy
from dojo_core.robot.description import expand_xacro, joint_limits
from dojo_core.serving import PolicyController, ServingConfig, SimulatedLatency, bind_features, resolve_feature_map
from dojo_core.sync import FeatureMap
from dojo_core.training.config import TrainConfig
from dojo_core.training.run import run_training
from expert_data import FAST_EXPERT, small_map

# records an episode and trains a few hundred steps per method: 13-22 s each on 2 busy cores, so it stays
# in `make test-fast`
pytestmark = pytest.mark.usefixtures('torch_one_thread')

#: Training steps per method (tiny presets, batch 8), and the
#: mean absolute error (rad) of the commands against the recorded actions, over all joints and frames.
#: The trained policies stay near 0.05; the untrained ones are near 0.25.
STEPS = {'act': 400, 'diffusion': 400}
TOLERANCE = 0.08


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    """One expert episode of the sim feature map with 64x48 front and 32x24 wrist cameras."""
    root = tmp_path_factory.mktemp('overfit') / 'expert'
    summary = record_expert_dataset(root, 1, seed=0, feature_map=small_map(), expert_config=FAST_EXPERT)
    assert len(summary.saved) == 1
    return root


@pytest.fixture(scope='module', params=sorted(STEPS))
def checkpoint(request, dataset, tmp_path_factory) -> Path:
    """The method's tiny preset at its own learning rate; both cameras resized to 24x32, so that the frames are
    decoded once into the run's frame cache instead of at every step."""
    out = tmp_path_factory.mktemp('overfit') / request.param
    run_training(dataset, out, policy=request.param, preset='tiny', policy_overrides={'resize_images': [24, 32]},
                 train_config=TrainConfig(steps=STEPS[request.param], batch_size=8, seed=0, device='cpu',
                                          num_workers=0, progress=False))
    return out / 'checkpoints' / 'last' / 'pretrained_model'


def replay(policy: Policy, feature_map: FeatureMap, reader: LeRobotDatasetReader) -> tuple[np.ndarray, dict]:
    """The controller's command at every recorded frame, fed that frame's observations stamped at its time
    (chunks handed over at once: no latency); and its holds."""
    binding = bind_features(policy.config, feature_map)
    limits = joint_limits(expand_xacro(hardware_type='none')).subset(binding.joints)
    controller = PolicyController(policy, binding, ServingConfig(execution='queue'), limits,
                                  fallback_fps=feature_map.fps, worker=lambda predict: SimulatedLatency(predict, 0.0))
    frames = np.arange(reader.num_frames)
    observed = {name: reader.read(name, frames) for name in binding.observed}
    commands = []
    try:
        for i in frames:
            now_ns = round(i / reader.fps * 1e9)
            for name, values in observed.items():
                controller.observations.put(name, now_ns, values[i])
            commands.append(controller.tick(now_ns).command)
    finally:
        controller.close()
    return np.array(commands), controller.holds.snapshot()


def test_a_tiny_policy_overfits_one_episode_and_replays_it_through_the_serving_controller(dataset, checkpoint):
    reader = LeRobotDatasetReader(dataset)
    policy = load_policy(checkpoint, device='cpu')
    feature_map, source = resolve_feature_map(checkpoint, policy.config)   # as policy_node serves it
    assert 'embedded' in source
    binding = bind_features(policy.config, feature_map)
    recorded = np.array([binding.action_to_ros(action) for action in reader.column('action')])

    commands, holds = replay(policy, feature_map, reader)
    assert commands.shape == recorded.shape and holds == {}   # every frame got a command of its own
    error = np.abs(commands - recorded).mean()
    assert error < TOLERANCE, f'the trained policy misses the recorded actions by {error:.3f} rad on average'

    torch.manual_seed(0)
    untrained = make_policy(policy.config, reader.stats).eval()
    untrained_commands, _ = replay(untrained, feature_map, reader)
    untrained_error = np.abs(untrained_commands - recorded).mean()
    assert untrained_error > max(2 * TOLERANCE, 4 * error), (untrained_error, error)
