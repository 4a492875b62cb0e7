"""dojo_core.serving: the observation history and task, asynchronous chunking, stamp admission and the
checkpoint's serving contract (the feature map embedded in it, and a user's map checked against it)."""
from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest
import yaml

from dojo_core.dataset.format import FEATURE_MAP_KEY
from dojo_core.dataset.record import DatasetRecord
from dojo_core.policies import load_policy
from dojo_core.robot import JOINT_NAMES, expand_xacro, joint_limits
from dojo_core.serving import (WAITING, PolicyController, ServingConfig, SimulatedLatency, bind_features,
                               checkpoint_contract, resolve_feature_map)
from dojo_core.sync import FeatureMap, FeatureMapError

pytestmark = pytest.mark.usefixtures('torch_one_thread')

PERIOD_NS = 1_000_000_000 // 30
LIMITS = joint_limits(expand_xacro())
HOME = np.array([0.0, -0.6, 0.6, 1.1, 0.0, 0.3])


class RecordingModel:
    """Stands in for a model: remembers every observation and returns a chunk that holds `HOME`."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        self.seen: list[dict] = []

    def __call__(self, observation):
        self.seen.append(observation)
        return np.tile(HOME, (self.chunk_size, 1))


def served(policy_files, n_obs_steps: int = 1, latency_s: float = 0.0, **settings):
    """A controller over the tiny checkpoint's config whose model is a RecordingModel."""
    policy = load_policy(policy_files['random'])
    config = dataclasses.replace(policy.config, chunk_size=10, n_action_steps=10)
    model = RecordingModel(config.chunk_size)
    stand_in = types.SimpleNamespace(config=config, n_obs_steps=n_obs_steps, predict_chunk=model)
    binding = bind_features(config, FeatureMap.from_yaml(policy_files['small_map']))
    controller = PolicyController(stand_in, binding, ServingConfig(control_rate_hz=30.0, **settings), LIMITS,
                                  worker=lambda predict: SimulatedLatency(predict, latency_s))
    return controller, model


def feed(controller: PolicyController, t_ns: int, value: float = 0.0) -> None:
    """Every observed feature at `t_ns`: the joint state at HOME + value, images filled with `value`."""
    for name, spec in controller.binding.observed.items():
        data = HOME + value if spec.type.endswith('JointState') else np.full(spec.shape, int(value), np.uint8)
        controller.observations.put(name, t_ns, data)


def test_a_history_of_two_is_stacked_in_time_and_carries_the_task(policy_files):
    controller, model = served(policy_files, n_obs_steps=2, chunk_threshold=1.0)
    controller.observations.task = 'put the cube in the bin'
    for step in range(3):
        feed(controller, step * PERIOD_NS, value=step)
        controller.tick(step * PERIOD_NS)
    first, _, third = model.seen
    assert first['task'] == third['task'] == 'put the cube in the bin'
    state = third['observation.state']
    assert state.shape == (2, 6)                               # (history, state), never a batch axis
    np.testing.assert_allclose(state[:, 0], [1.0, 2.0])        # the previous tick, then this one
    np.testing.assert_allclose(first['observation.state'][:, 0], [0.0, 0.0])   # run start: the first one twice
    assert third['observation.images.front'].shape == (2, 48, 64, 3)
    controller.close()


def test_a_single_frame_policy_gets_no_history_axis(policy_files):
    controller, model = served(policy_files)
    feed(controller, 0)
    controller.tick(0)
    assert model.seen[0]['observation.state'].shape == (6,) and model.seen[0]['task'] == ''
    controller.close()


@pytest.mark.parametrize(('threshold', 'waits'), [(0.5, False), (0.0, True)])
def test_the_next_chunk_is_asked_for_at_the_threshold_so_none_is_waited_for(policy_files, threshold, waits):
    """Inference taking 3 control periods: at half a 10-action chunk left, every later chunk arrives in time;
    asking only when the queue is empty (threshold 0) leaves steps without an action."""
    controller, _ = served(policy_files, latency_s=3 / 30 - 1e-6, chunk_threshold=threshold)
    holds = []
    for step in range(100):
        feed(controller, step * PERIOD_NS)
        holds.append(controller.tick(step * PERIOD_NS).hold)
    assert holds[:3] == [WAITING] * 3 and holds[3] is None      # the first chunk of a run is waited for
    assert (WAITING in holds[3:]) == waits
    assert controller.events.snapshot()['chunks'] >= (18 if not waits else 8)
    controller.close()


def test_overlapping_chunks_replace_or_blend(policy_files):
    for aggregate, expected in (('replace', 1.0), ('weighted_average', 0.7)):
        controller, _ = served(policy_files, aggregate=aggregate, old_weight=0.3)
        controller.execution.add(np.zeros((10, 6)), obs_step=0, step=0)
        controller.execution.add(np.ones((10, 6)), obs_step=2, step=4)   # 2 stale; overlaps 8 queued
        assert controller.execution.action(4)[0] == pytest.approx(expected)
        controller.close()


def test_messages_stamped_in_the_future_are_refused_and_counted(policy_files):
    from builtin_interfaces.msg import Time
    from dojo_ros.joint_state import vector_to_joint_state

    controller, _ = served(policy_files, max_obs_age=0.2)
    now = 10 * 10**9
    good = vector_to_joint_state(JOINT_NAMES, HOME, stamp=Time(sec=10))
    assert not controller.observations.push('joint_states', good, now)
    ahead = vector_to_joint_state(JOINT_NAMES, HOME + 1, stamp=Time(sec=3610))   # an hour ahead
    [error] = controller.observations.push('joint_states', ahead, now)
    assert error.reason == 'future_stamp'
    assert controller.observations.rejected.snapshot() == {'future_stamp:observation.state': 1}
    values, _ = controller.observations.snapshot(now, 1.0)
    assert values is None or np.allclose(values['observation.state'], HOME)   # the good value is kept
    assert controller.observations.ages(now)['observation.state'] == 0.0
    controller.close()


def test_a_history_policy_is_served_end_to_end_on_the_cell(tiny_policy, policy_files):
    """The registered tiny_test type reads a history of 2 and predicts actions from the previous frame on: its
    history axis and its first (past) action are handled by the serving controller, as for Diffusion."""
    from dojo_core.evaluation import RolloutConfig, rollout
    from dojo_core.policies import dataset_features, make_policy
    from dojo_core.policies.registry import config_class
    from dojo_core.sim import SimCell
    from dojo_core.cell_features import CellFeatures

    features = FeatureMap.from_yaml(policy_files['small_map'])
    inputs, outputs = dataset_features(features.lerobot_features())
    config = config_class(tiny_policy).tiny(input_features=inputs, output_features=outputs, fps=30)
    stats = {'observation.state': {'mean': np.zeros(6), 'std': np.ones(6)},
             'action': {'mean': HOME, 'std': np.full(6, 0.1)}}
    policy = make_policy(config, stats).eval()
    assert policy.n_obs_steps == 2
    state, image = np.zeros((2, 6), np.float32), np.zeros((2, 48, 64, 3), np.uint8)
    one = {'observation.state': state, 'observation.images.front': image, 'observation.images.wrist': image}
    assert policy.predict_chunk(one).shape == (4, 6)                       # (history, ...): one observation
    batch = {k: np.stack([v] * 3) for k, v in one.items()}
    assert policy.predict_chunk(batch).shape == (3, 4, 6)                  # (batch, history, ...)
    with pytest.raises(ValueError, match='history axis of 2'):
        policy.predict_chunk({**one, 'observation.state': state[0]})
    cell = SimCell(CellFeatures.from_feature_map(features).sim_config())
    try:
        result = rollout(policy, cell, seed=3, config=RolloutConfig(max_steps=12, latency_s=0.0), feature_map=features)
    finally:
        cell.close()
    assert result.steps == 12 and result.holds == {} and result.chunks >= 4


# The contract a checkpoint carries ---------------------------------------------------------------

def embed(checkpoint, feature_map: FeatureMap, damage: bool = False):
    """Give a checkpoint the dataset record `dojo train` writes for a dataset recorded with `feature_map`."""
    embedded = feature_map.embedding()
    if damage:
        embedded['yaml'] = embedded['yaml'].replace('fps: 30', 'fps: 15')
    DatasetRecord(path='/data/demo', repo_id='lab/demo', fps=feature_map.fps, robot_type='so101_follower',
                  features=feature_map.lerobot_features(),
                  dojo={'units': 'radians', FEATURE_MAP_KEY: embedded},
                  episodes=None, total_episodes=1, total_frames=10).write(checkpoint)


def variant(policy_files, tmp_path, name: str, **changes) -> str:
    """The small map with `changes` applied to its features (`feature: {key: value}`) or top level."""
    data = yaml.safe_load(policy_files['small_map'].read_text())
    for key, value in changes.items():
        if key in data['features']:
            data['features'][key].update(value)
        else:
            data[key] = value
    path = tmp_path / f'{name}.yaml'
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def embedded(policy_files, tmp_path):
    checkpoint = tmp_path / 'ckpt'
    import shutil
    shutil.copytree(policy_files['random'], checkpoint)
    embed(checkpoint, FeatureMap.from_yaml(policy_files['small_map']))
    return checkpoint


@pytest.mark.parametrize('name', ['so101_sim', 'so101_sim_lerobot_units', 'so101_sim_state'])
def test_a_feature_map_survives_its_embedding(name):
    from dojo_core.sync import load_feature_map
    from dojo_core.robot.description import share_dir

    shipped = load_feature_map(share_dir('dojo_bringup') / 'config' / 'features' / f'{name}.yaml')
    assert FeatureMap.from_embedding(shipped.embedding()) == shipped


def test_the_embedded_map_is_served_by_default_and_a_renamed_topic_may_override_it(embedded, policy_files, tmp_path):
    config = load_policy(embedded).config
    features, source = resolve_feature_map(str(embedded), config)
    assert features == FeatureMap.from_yaml(policy_files['small_map'])
    assert source.startswith("the checkpoint's embedded feature map (sha256 ") and 'lab/demo' in source
    contract = checkpoint_contract(embedded)
    assert contract.fps == 30 and contract.sha256 == features.embedding()['sha256']
    relay = variant(policy_files, tmp_path, 'relay', **{'observation.images.front': {'topic': 'relay/front'}})
    features, source = resolve_feature_map(str(embedded), config, relay)
    assert features.features['observation.images.front'].topic == 'relay/front' and relay in source


@pytest.mark.parametrize(('changes', 'named'), [
    ({'observation.state': {'units': 'degrees'}, 'action': {'units': 'degrees'}},
     'observation.state units are radians in training, degrees here; action units are radians in training, '
     'degrees here'),
    ({'observation.images.wrist': {'width': 80}}, 'observation.images.wrist is 64x48 in training, 80x48 here'),
    ({'fps': 15}, 'fps is 30 in training, 15 here'),
])
def test_a_map_that_disagrees_with_the_checkpoint_fails_in_one_line(embedded, policy_files, tmp_path, changes,
                                                                    named):
    config = load_policy(embedded).config
    with pytest.raises(FeatureMapError) as error:
        resolve_feature_map(str(embedded), config, variant(policy_files, tmp_path, 'other', **changes))
    text = str(error.value)
    assert '\n' not in text and text.startswith('feature map ') and named in text


def test_checkpoints_without_or_with_a_damaged_map_say_what_to_do(policy_files, embedded):
    config = load_policy(policy_files['random']).config
    with pytest.raises(FeatureMapError, match='has no dataset record, so it embeds no feature map: set feature_map'):
        resolve_feature_map(str(policy_files['random']), config)
    embed(embedded, FeatureMap.from_yaml(policy_files['small_map']), damage=True)
    with pytest.raises(FeatureMapError, match='does not match its sha256'):
        resolve_feature_map(str(embedded), config)
