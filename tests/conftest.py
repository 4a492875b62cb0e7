"""Shared fixtures: every test module that starts ROS gets its own DDS domain on localhost only.

Each test module receives a fresh ROS_DOMAIN_ID (so modules never hear each other, even when a
leftover process from an earlier module is still shutting down, while tests inside a module can
share one node process) and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (so no discovery traffic
leaves the machine). Child processes inherit both through os.environ.
"""
from __future__ import annotations

import itertools
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

# MuJoCo reads MUJOCO_GL when first imported, which happens while test modules are collected.
os.environ.setdefault('MUJOCO_GL', 'egl')
# Camera-sized messages over shared memory (the default 512 KB segment drops most 640x480 frames
# for best-effort subscribers), UDP on loopback only; read when a DDS participant is created.
os.environ.setdefault('FASTRTPS_DEFAULT_PROFILES_FILE',
                      str(Path(__file__).resolve().parents[1] / 'config' / 'dds' / 'fastdds_local_large_data.xml'))

# Domain ids 1..101 are safe for FastDDS port arithmetic; start from the pid so that two pytest
# runs on one machine are unlikely to share a domain.
_domain_ids = itertools.count(os.getpid() % 101)


@pytest.fixture(scope='module', autouse=True)
def ros_domain() -> int:
    domain = 1 + next(_domain_ids) % 101
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('ROS_DOMAIN_ID', str(domain))
        mp.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
        yield domain


@pytest.fixture(scope='module')
def torch_one_thread():
    """Torch on one intra-op thread for modules with tiny models (`pytestmark = usefixtures(...)`):
    they gain nothing from more, and on a busy 2-core machine spinning threads make them several
    times slower."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Tiny ACT checkpoints and small-camera feature maps for the policy node, serving and `dojo eval` tests.
# The checkpoints have random weights (the tests check mechanics, not skill); their normalisation
# stats decide where the actions land: around the sim's home pose, far outside the joint limits, or
# NaN everywhere.
REPO = Path(__file__).resolve().parents[1]
POLICY_YAML = REPO / 'config' / 'policy.yaml'
SIM_YAML = REPO / 'config' / 'sim.yaml'
#: (width, height) of both sim cameras in these tests; sim_node parameters to match.
CAMERA_SIZE = (64, 48)
SIM_CAMERAS = {f'{cam}_camera.{key}': value for cam in ('front', 'wrist')
               for key, value in (('width', CAMERA_SIZE[0]), ('height', CAMERA_SIZE[1]))}
HOME = [0.0, -0.6, 0.6, 1.1, 0.0, 0.3]


def write_feature_map(path: Path, camera_size: tuple[int, int] = CAMERA_SIZE, **topics: str) -> Path:
    """config/features/so101_sim.yaml with smaller cameras; `topics` replaces feature topics by name."""
    data = yaml.safe_load((REPO / 'config' / 'features' / 'so101_sim.yaml').read_text())
    for cam in ('front', 'wrist'):
        data['features'][f'observation.images.{cam}'].update(width=camera_size[0], height=camera_size[1])
    for name, topic in topics.items():
        data['features'][name]['topic'] = topic
    path.write_text(yaml.safe_dump(data))
    return path


def write_checkpoint(path: Path, feature_map: Path, action_mean, action_std: float = 0.2, nan: bool = False,
                     policy_type: str = 'act', **config) -> Path:
    """A tiny policy of `policy_type` (its `tiny` preset) trained on nothing, reading the map's features;
    actions ~ action_mean +- action_std (MIN_MAX types: within action_mean +- 2 action_std)."""
    import torch

    from dojo_core.policies import dataset_features, make_policy
    from dojo_core.policies.registry import config_class
    from dojo_core.sync import FeatureMap

    inputs, outputs = dataset_features(FeatureMap.from_yaml(feature_map).lerobot_features())
    mean = np.asarray(action_mean, dtype=float)
    stats = {'observation.state': {'mean': np.zeros(6), 'std': np.ones(6), 'min': -np.ones(6) * 2, 'max': np.ones(6) * 2},
             'action': {'mean': mean, 'std': np.full(6, action_std),
                        'min': mean - 2 * action_std, 'max': mean + 2 * action_std}}
    torch.manual_seed(0)
    tiny = config_class(policy_type).preset('tiny', input_features=inputs, output_features=outputs, fps=30, **config)
    policy = make_policy(tiny, stats)
    if nan:
        with torch.no_grad():
            for parameter in policy.parameters():
                parameter.fill_(math.nan)
    return policy.save_pretrained(path)


@pytest.fixture(scope='session')
def sim_cameras() -> dict[str, int]:
    """sim_node parameters that make its cameras the size of the small feature maps."""
    return dict(SIM_CAMERAS)


@pytest.fixture(scope='module')
def policy_files(tmp_path_factory, torch_one_thread) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('policy')
    small = write_feature_map(root / 'small.yaml')
    return {
        'policy_yaml': POLICY_YAML,
        'sim_yaml': SIM_YAML,
        'small_map': small,
        'relay_map': write_feature_map(root / 'relay.yaml', **{'observation.images.front': 'relay/front/image_raw'}),
        'wide_map': write_feature_map(root / 'wide.yaml', camera_size=(80, 48)),
        'random': write_checkpoint(root / 'random', small, HOME),
        'out_of_range': write_checkpoint(root / 'out_of_range', small, [3.0, -3.0, 3.0, -3.0, 3.5, -1.0], 0.01),
        'nan': write_checkpoint(root / 'nan', small, HOME, nan=True),
        'diffusion': write_checkpoint(root / 'diffusion', small, HOME, policy_type='diffusion'),
    }


@pytest.fixture(scope='session')
def signal_twice():
    """`signal_twice(node_process, first, second, gap_s)`: send two signals `gap_s` apart, as a terminal's
    Ctrl-C and the copy `ros2 launch` forwards do (~3 ms apart); the exit code, or None if the process
    was still running 30 s later (then it is killed)."""
    def send(node, first: int, second: int, gap_s: float) -> int | None:
        node.process.send_signal(first)
        time.sleep(gap_s)
        node.process.send_signal(second)
        try:
            return node.process.wait(30)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
            return None
    return send
