"""Policy interface: checkpoints, normalisation, observation handling, chunk execution, backbone weights."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dojo_core.policies import (ActionQueue, FeatureType, NormMode, Normalizer, Policy, PolicyConfig, PolicyFeature,
                                TemporalEnsembler, dataset_features, load_policy, make_policy, merge_chunks,
                                policy_class, skip_stale, stale_steps)
from dojo_core.policies.act import ACTConfig, ACTPolicy
from dojo_core.policies.backbone import ResNet18, load_pretrained
from dojo_core.policies.normalize import IMAGENET_MEAN, IMAGENET_STD
from dojo_core.training.synthetic import SyntheticEpisodes


pytestmark = pytest.mark.usefixtures('torch_one_thread')


@pytest.fixture(scope='module')
def data() -> SyntheticEpisodes:
    return SyntheticEpisodes(n_episodes=2, episode_length=12)


def tiny_policy(data: SyntheticEpisodes, **overrides) -> ACTPolicy:
    inputs, outputs = dataset_features(data.features)
    torch.manual_seed(0)
    return make_policy(ACTConfig.tiny(input_features=inputs, output_features=outputs, fps=data.fps, **overrides),
                       data.stats)


def observation(data: SyntheticEpisodes, index: int) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in data[index].items() if k.startswith('observation.')}


# Checkpoints ------------------------------------------------------------------------------------

def test_save_load_round_trip_gives_identical_outputs_and_stats(data, tmp_path):
    policy = tiny_policy(data, normalization_mapping={'STATE': 'MIN_MAX', 'ACTION': 'QUANTILES'})
    with torch.no_grad():  # move every weight off its initial value
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    policy.save_pretrained(tmp_path / 'ckpt')
    assert sorted(p.name for p in (tmp_path / 'ckpt').iterdir()) == ['config.json', 'model.safetensors']
    saved = json.loads((tmp_path / 'ckpt' / 'config.json').read_text())
    assert saved['type'] == 'act' and saved['input_features']['observation.images.front'] == {
        'type': 'VISUAL', 'shape': [3, 32, 32]}
    assert saved['normalization_mapping']['ACTION'] == 'QUANTILES'

    loaded = load_policy(tmp_path / 'ckpt')
    assert type(loaded) is ACTPolicy and not loaded.training
    assert loaded.config.to_dict() == policy.config.to_dict()
    for i in (0, 5, 23):
        np.testing.assert_array_equal(loaded.predict_chunk(observation(data, i)),
                                      policy.predict_chunk(observation(data, i)))
    stats = loaded.normalizer.stats
    np.testing.assert_allclose(stats['action'].q99.numpy(), data.stats['action']['q99'])
    np.testing.assert_allclose(stats['observation_state'].min.numpy(), data.stats['observation.state']['min'])
    np.testing.assert_allclose(stats['observation_images_front'].std.numpy().ravel(), IMAGENET_STD, rtol=1e-6)
    assert isinstance(ACTPolicy.from_pretrained(tmp_path / 'ckpt'), ACTPolicy)


def test_config_json_is_checked(tmp_path, data):
    with pytest.raises(ValueError, match='unknown policy type'):
        PolicyConfig.from_dict({'type': 'nope'})
    with pytest.raises(ValueError, match='unknown keys'):
        PolicyConfig.from_dict({'type': 'act', 'dim_modle': 3})
    with pytest.raises(FileNotFoundError, match='not a policy checkpoint'):
        load_policy(tmp_path)
    with pytest.raises(ValueError, match='n_action_steps = 1'):
        ACTConfig.tiny(temporal_ensemble_coeff=0.01)


def test_dataset_features_from_info_json(data):
    inputs, outputs = dataset_features({**data.features, 'timestamp': {'dtype': 'float32', 'shape': [1]}})
    assert inputs['observation.images.wrist'] == PolicyFeature(FeatureType.VISUAL, (3, 32, 32))
    assert inputs['observation.state'].names[0] == 'shoulder_pan.pos'
    assert list(outputs) == ['action'] and 'timestamp' not in inputs
    with pytest.raises(ValueError, match="no 'action'"):
        dataset_features({'observation.state': data.features['observation.state']})


# Normalisation ----------------------------------------------------------------------------------

STATS = {'x': {'mean': [1.0, -2.0], 'std': [0.5, 2.0], 'min': [0.0, -6.0], 'max': [2.0, 2.0],
               'q01': [0.2, -5.0], 'q99': [1.8, 1.0]}}


@pytest.mark.parametrize('mode', list(NormMode))
def test_each_normalisation_mode_round_trips(mode):
    normalizer = Normalizer({'x': PolicyFeature(FeatureType.STATE, (2,))}, {FeatureType.STATE: mode}, STATS)
    x = torch.tensor([[0.0, -6.0], [2.0, 2.0], [0.2, 1.0], [1.8, -5.0], [1.0, -2.0]])
    y = normalizer.normalize('x', x)
    torch.testing.assert_close(normalizer.unnormalize('x', y), x, rtol=0, atol=1e-6)
    expected = {
        NormMode.IDENTITY: x,
        NormMode.MEAN_STD: (x - torch.tensor([1.0, -2.0])) / (torch.tensor([0.5, 2.0]) + 1e-8),
        NormMode.MIN_MAX: 2 * (x - torch.tensor([0.0, -6.0])) / torch.tensor([2.0, 8.0]) - 1,
        NormMode.QUANTILES: 2 * (x - torch.tensor([0.2, -5.0])) / torch.tensor([1.6, 6.0]) - 1,
    }[mode]
    torch.testing.assert_close(y, expected)


def test_images_use_imagenet_or_dataset_stats(data):
    features = {'observation.images.front': PolicyFeature(FeatureType.VISUAL, (3, 32, 32))}
    modes = {FeatureType.VISUAL: NormMode.MEAN_STD}
    image = torch.rand(2, 3, 32, 32)
    imagenet = Normalizer(features, modes, None, use_imagenet_stats=True)
    expected = (image - torch.tensor(IMAGENET_MEAN)[:, None, None]) / (torch.tensor(IMAGENET_STD)[:, None, None] + 1e-8)
    torch.testing.assert_close(imagenet.normalize('observation.images.front', image), expected)
    own = Normalizer(features, modes, data.stats, use_imagenet_stats=False)
    stats = data.stats['observation.images.front']
    torch.testing.assert_close(own.normalize('observation.images.front', image),
                               (image - torch.from_numpy(stats['mean'])) / (torch.from_numpy(stats['std']) + 1e-8))


def test_missing_stats_are_clear_errors(data):
    inputs, outputs = dataset_features(data.features)
    policy = ACTPolicy(ACTConfig.tiny(input_features=inputs, output_features=outputs), None)
    with pytest.raises(RuntimeError, match='no normalisation stats'):
        policy.predict_chunk(observation(data, 0))
    lacking = {k: {s: v for s, v in st.items() if s != 'q01'} for k, st in data.stats.items()}
    with pytest.raises(ValueError, match="lack 'q01'"):
        ACTPolicy(ACTConfig.tiny(input_features=inputs, output_features=outputs,
                                 normalization_mapping={'ACTION': 'QUANTILES'}), lacking)


# Observations -----------------------------------------------------------------------------------

def test_predict_chunk_accepts_camera_and_dataset_layouts_batched_or_not(data):
    policy = tiny_policy(data)
    obs = observation(data, 3)
    chunk = policy.predict_chunk(obs)
    assert chunk.shape == (10, 6) and chunk.dtype == np.float32
    camera_style = {k: (np.round(v.transpose(1, 2, 0) * 255).astype(np.uint8) if 'images' in k else v)
                    for k, v in obs.items()}  # (H, W, 3) uint8 as a camera delivers it
    dataset_style = {k: (v.transpose(2, 0, 1) / np.float32(255) if 'images' in k else v)
                     for k, v in camera_style.items()}  # the same pixels as (3, H, W) float in [0, 1]
    np.testing.assert_allclose(policy.predict_chunk(camera_style), policy.predict_chunk(dataset_style), atol=1e-6)
    batch = {k: torch.stack([torch.from_numpy(observation(data, i)[k]) for i in (3, 4)]) for k in obs}
    batched = policy.predict_chunk(batch)
    assert batched.shape == (2, 10, 6)
    np.testing.assert_allclose(batched[0], chunk, atol=1e-5)
    with pytest.raises(KeyError, match='observation.images.wrist'):
        policy.predict_chunk({k: v for k, v in obs.items() if 'wrist' not in k})
    with pytest.raises(ValueError, match='expected'):
        policy.predict_chunk({**obs, 'observation.state': np.zeros(5)})
    with pytest.raises(ValueError, match='NaN'):
        policy.predict_chunk({**obs, 'observation.state': np.full(6, np.nan)})


def test_select_action_executes_n_action_steps_then_replans(data):
    policy = tiny_policy(data, n_action_steps=3)
    chunks = [policy.predict_chunk(observation(data, i)) for i in range(6)]
    actions = [policy.select_action(observation(data, i)) for i in range(6)]
    for i in range(3):
        np.testing.assert_array_equal(actions[i], chunks[0][i])  # open loop on the first chunk
        np.testing.assert_array_equal(actions[3 + i], chunks[3][i])  # replanned at step 3
    policy.reset()
    np.testing.assert_array_equal(policy.select_action(observation(data, 5)), chunks[5][0])


def test_select_action_with_temporal_ensembling(data):
    policy = tiny_policy(data, n_action_steps=1, temporal_ensemble_coeff=0.01)
    ensembler = TemporalEnsembler(10, 0.01)
    for i in range(12):
        expected = ensembler.update(policy.predict_chunk(observation(data, i)))
        np.testing.assert_allclose(policy.select_action(observation(data, i)), expected, rtol=1e-6)


# Execution helpers ------------------------------------------------------------------------------

def test_action_queue_runs_n_steps_of_each_chunk():
    queue = ActionQueue(n_action_steps=2)
    assert queue.empty
    queue.push(np.arange(10.0).reshape(5, 2))
    assert len(queue) == 2
    np.testing.assert_array_equal(queue.pop(), [0, 1])
    np.testing.assert_array_equal(queue.pop(), [2, 3])
    with pytest.raises(IndexError):
        queue.pop()


def test_temporal_ensembler_matches_the_paper_weighting():
    rng = np.random.default_rng(0)
    chunk_size, coeff = 4, 0.5
    chunks = rng.normal(size=(9, chunk_size, 2))
    ensembler = TemporalEnsembler(chunk_size, coeff)
    for t in range(len(chunks)):
        # Predictions for step t, oldest first: the chunk from step s predicts t at index t - s.
        candidates = [chunks[s][t - s] for s in range(max(0, t - chunk_size + 1), t + 1)]
        weights = np.exp(-coeff * np.arange(len(candidates)))
        expected = (weights[:, None] * np.array(candidates)).sum(0) / weights.sum()
        np.testing.assert_allclose(ensembler.update(chunks[t]), expected, rtol=1e-12)
    ensembler.reset()
    np.testing.assert_array_equal(ensembler.update(chunks[0]), chunks[0][0])


def test_skip_stale_drops_actions_whose_time_has_passed():
    chunk = np.arange(10.0)[:, None]
    fps = 10.0
    np.testing.assert_array_equal(skip_stale(chunk, 1.0, 1.0, fps), chunk)  # on time: nothing stale
    np.testing.assert_array_equal(skip_stale(chunk, 1.0, 1.3, fps)[:, 0], np.arange(3, 10))  # 3 due before now
    np.testing.assert_array_equal(skip_stale(chunk, 1.0, 1.25, fps)[:, 0], np.arange(3, 10))  # 1.2 passed, 1.3 not
    assert stale_steps(0.0, 0.3, 10.0) == 3  # float error in 0.3 * 10 does not skip a fourth
    assert skip_stale(chunk, 1.0, 3.0, fps).shape == (0, 1)


def test_merging_a_late_chunk_into_the_queue():
    queue = ActionQueue(n_action_steps=8)
    queue.push(np.zeros((8, 1)))
    for _ in range(3):  # steps at t = 0.0, 0.1, 0.2 (fps 10) ran from the old chunk
        queue.pop()
    # A chunk observed at t = 0.1 arrives at t = 0.3: its actions for 0.1 and 0.2 are stale.
    fresh = np.arange(1.0, 11.0)[:, None]
    skipped = queue.merge(fresh, t_obs=0.1, t_now=0.3, fps=10.0, old_weight=0.25)
    assert skipped == 2
    merged = np.array([queue.pop()[0] for _ in range(len(queue))])
    # 5 old actions overlap (weight 0.25 on zeros), then the fresh chunk up to n_action_steps = 8
    np.testing.assert_allclose(merged, np.r_[0.75 * np.arange(3.0, 8.0), 8.0])
    np.testing.assert_array_equal(merge_chunks(np.ones((3, 1)), np.full((2, 1), 3.0)), [[3.0], [3.0]])


# Backbone weights -------------------------------------------------------------------------------

def torchvision_layout_weights(width: int) -> dict[str, torch.Tensor]:
    """A resnet18 state dict as torchvision saves it (BatchNorm stats, num_batches_tracked, fc)."""
    reference = ResNet18(width, 'batch_norm')
    generator = torch.Generator().manual_seed(1)
    state = {}
    for key, value in reference.state_dict().items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(100)
        elif key.endswith('running_var'):
            state[key] = torch.rand(value.shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(value.shape, generator=generator) * 0.1
    state['fc.weight'] = torch.zeros(1000, 8 * width)
    state['fc.bias'] = torch.zeros(1000)
    return state


@pytest.mark.parametrize('suffix', ['safetensors', 'pth'])
def test_backbone_loads_torchvision_layout_weights(tmp_path, suffix):
    state = torchvision_layout_weights(8)
    path = tmp_path / f'resnet18.{suffix}'
    save_file(state, str(path)) if suffix == 'safetensors' else torch.save(state, path)
    reference = ResNet18(8, 'batch_norm')
    reference.load_state_dict(state, strict=False)
    frozen = ResNet18(8, 'frozen_batch_norm')
    load_pretrained(frozen, str(path))
    images = torch.rand(2, 3, 64, 96)
    out = frozen(images)
    assert out.shape == (2, 64, 2, 3)
    torch.testing.assert_close(out, reference.eval()(images), rtol=1e-4, atol=1e-5)
    grouped = ResNet18(8, 'group_norm')
    load_pretrained(grouped, str(path))
    torch.testing.assert_close(grouped.bn1.weight, state['bn1.weight'])
    with pytest.raises(ValueError, match='width'):
        load_pretrained(ResNet18(16, 'frozen_batch_norm'), str(path))


def test_policy_backbone_weights_come_from_config_and_travel_in_the_checkpoint(tmp_path, data):
    state = torchvision_layout_weights(8)
    weights = tmp_path / 'weights'
    weights.mkdir()
    save_file(state, str(weights / 'model.safetensors'))
    policy = tiny_policy(data, backbone_norm='frozen_batch_norm', pretrained_backbone_weights=str(weights))
    torch.testing.assert_close(policy.model.backbone.layer3[1].conv2.weight, state['layer3.1.conv2.weight'])
    policy.save_pretrained(tmp_path / 'ckpt')
    (weights / 'model.safetensors').unlink()  # loading a checkpoint never needs the original weights
    loaded = load_policy(tmp_path / 'ckpt')
    torch.testing.assert_close(loaded.model.backbone.layer3[1].conv2.weight, state['layer3.1.conv2.weight'])
    with pytest.raises(FileNotFoundError):
        tiny_policy(data, pretrained_backbone_weights=str(weights / 'model.safetensors'))


def test_diffusion_encoders_load_the_stages_they_keep(tmp_path, data):
    """Diffusion's per-camera encoders cut after stage 3 take those stages of full resnet18 weights (layer4 and
    fc ignored), are optional, and travel in the checkpoint."""
    from dojo_core.policies.diffusion import DiffusionConfig

    state = torchvision_layout_weights(8)
    save_file(state, str(tmp_path / 'resnet18.safetensors'))
    inputs, outputs = dataset_features(data.features)
    config = DiffusionConfig.tiny(input_features=inputs, output_features=outputs, backbone_width=8, backbone_stages=3,
                                  pretrained_backbone_weights=str(tmp_path / 'resnet18.safetensors'))
    policy = make_policy(config, data.stats)
    encoders = policy.model.observation_encoder.encoders
    assert len(encoders) == 2 and not hasattr(encoders[0].backbone, 'layer4')
    for encoder in encoders:
        torch.testing.assert_close(encoder.backbone.layer3[1].conv2.weight, state['layer3.1.conv2.weight'])
    policy.save_pretrained(tmp_path / 'ckpt')
    (tmp_path / 'resnet18.safetensors').unlink()
    loaded = load_policy(tmp_path / 'ckpt')
    torch.testing.assert_close(loaded.model.observation_encoder.encoders[1].backbone.layer3[1].conv2.weight,
                               state['layer3.1.conv2.weight'])
    scratch = make_policy(DiffusionConfig.tiny(input_features=inputs, output_features=outputs, backbone_width=8,
                                               backbone_stages=3), data.stats)
    assert not torch.equal(scratch.model.observation_encoder.encoders[0].backbone.layer3[1].conv2.weight,
                           state['layer3.1.conv2.weight'])


@dataclass
class ConstantConfig(PolicyConfig):
    type: ClassVar[str] = 'constant_test'


class ConstantPolicy(Policy):
    """The smallest possible policy type: a learned chunk, whatever the observation."""

    config_class = ConstantConfig

    def __init__(self, config, dataset_stats=None, *, load_pretrained_weights=True):
        super().__init__(config, dataset_stats, load_pretrained_weights=load_pretrained_weights)
        self.chunk = torch.nn.Parameter(torch.zeros(config.chunk_size, config.action_feature.shape[0]))

    def predict_normalized_chunk(self, batch):
        return self.chunk.expand(len(next(iter(batch.values()))), -1, -1)


def test_any_registered_policy_type_saves_and_loads(data, tmp_path):
    inputs, outputs = dataset_features(data.features)
    policy = make_policy(ConstantConfig(input_features=inputs, output_features=outputs, chunk_size=4,
                                        n_action_steps=4), data.stats)
    assert policy_class('constant_test') is ConstantPolicy and policy_class('act') is ACTPolicy
    # a zero normalised chunk is the dataset's mean action in robot units
    np.testing.assert_allclose(policy.predict_chunk(observation(data, 0)),
                               np.tile(data.stats['action']['mean'], (4, 1)), rtol=1e-6)
    policy.save_pretrained(tmp_path / 'ckpt')
    loaded = load_policy(tmp_path / 'ckpt')
    assert type(loaded) is ConstantPolicy
    with pytest.raises(TypeError, match='ACTPolicy cannot load'):
        ACTPolicy.from_pretrained(tmp_path / 'ckpt')
    with pytest.raises(FileNotFoundError, match='not a directory'):
        load_policy(tmp_path / 'missing')  # a local-looking path is never looked up on the Hub


def test_image_preprocessing_resizes_crops_and_jitters_only_in_training():
    from dojo_core.policies import ImagePreprocessing
    images = torch.rand(2, 3, 3, 24, 32)  # a batch of 2 with a history of 3
    pipeline = ImagePreprocessing(resize=(12, 16), crop=(8, 10), color_jitter=0.3)
    evaluated = pipeline(images, training=False)
    assert evaluated.shape == (2, 3, 3, 8, 10)
    assert torch.equal(evaluated, pipeline(images, training=False))  # centre crop, no jitter: deterministic
    resized = ImagePreprocessing(resize=(12, 16))(images, training=True)
    torch.testing.assert_close(evaluated, resized[..., 2:10, 3:13])
    torch.manual_seed(0)
    trained = pipeline(images, training=True)
    assert trained.shape == evaluated.shape and not torch.equal(trained, evaluated)
    assert trained.min() >= 0 and trained.max() <= 1
    crops = ImagePreprocessing(crop=(8, 10))(images.flatten(0, 1), training=True)
    assert len({tuple(c.flatten()[:4].tolist()) for c in crops}) > 1  # a random crop per image
    assert torch.equal(ImagePreprocessing()(images, training=True), images)
    with pytest.raises(ValueError, match='cannot crop'):
        ImagePreprocessing(crop=(30, 10))(images, training=False)
