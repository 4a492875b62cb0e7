"""ACT network: shapes, the masked L1 + KL loss, train vs inference behaviour, configurations."""
from __future__ import annotations

import math

import pytest
import torch

from dojo_core.policies import PolicyFeature, TrainingPreset, dataset_features, make_policy
from dojo_core.policies.act import ACTConfig, ACTPolicy
from dojo_core.policies.positional import sinusoid_1d, sinusoid_2d
from dojo_core.training.synthetic import SyntheticEpisodes

CHUNK = 10


pytestmark = pytest.mark.usefixtures('torch_one_thread')


@pytest.fixture(scope='module')
def data() -> SyntheticEpisodes:
    return SyntheticEpisodes(n_episodes=2, episode_length=12, delta_indices={'action': range(CHUNK)})


def build(data: SyntheticEpisodes, **overrides) -> ACTPolicy:
    inputs, outputs = dataset_features(data.features)
    torch.manual_seed(0)
    return make_policy(ACTConfig.tiny(input_features=inputs, output_features=outputs, **overrides), data.stats)


def batch_of(data: SyntheticEpisodes, indices) -> dict:
    samples = [data[i] for i in indices]
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0] if k != 'task'}


def test_forward_and_inference_shapes(data):
    policy = build(data)
    batch = batch_of(data, range(4))
    normalized = policy.normalizer.normalize_batch(batch)
    assert policy.model(normalized, torch.zeros(4, 8)).shape == (4, CHUNK, 6)
    loss, parts = policy(batch)
    assert loss.shape == () and set(parts) == {'l1_loss', 'kl_loss'}
    assert policy.predict_chunk(batch).shape == (4, CHUNK, 6)
    tokens, positions = policy.model.image_tokens(normalized)
    assert tokens.shape == (4, 2, 32) and positions.shape == (2, 32)  # 32x32 images -> one 1x1 map per camera


def test_l1_ignores_padded_actions(data):
    policy = build(data)
    batch = batch_of(data, [20, 21, 22])  # near the episode end: the last actions of each chunk are padding
    is_pad = batch['action_is_pad']
    assert is_pad.any() and not is_pad.all()
    changed = {**batch, 'action': torch.where(is_pad[..., None], batch['action'] + 100.0, batch['action'])}
    for training in (True, False):
        policy.train(training)
        torch.manual_seed(1)
        loss, _ = policy(batch)
        torch.manual_seed(1)
        loss_changed, _ = policy(changed)
        assert torch.equal(loss, loss_changed)
    # eval mode: the loss is the mean absolute error over the valid (step, joint) entries, normalised units
    policy.eval()
    predicted = policy.predict_normalized_chunk(policy.normalizer.normalize_batch(batch))
    target = policy.normalizer.normalize('action', batch['action'])
    expected = (predicted - target).abs()[~is_pad].mean()
    torch.testing.assert_close(policy(batch)[0], expected)


def test_kl_term_in_training_only(data):
    policy = build(data, kl_weight=10.0)
    batch = batch_of(data, range(6))
    policy.train()
    loss, parts = policy(batch)
    assert parts['kl_loss'] > 0
    torch.testing.assert_close(loss, parts['l1_loss'] + 10.0 * parts['kl_loss'])
    loss.backward()
    assert policy.model.vae_latent_proj.weight.grad.abs().sum() > 0  # the CVAE encoder learns
    policy.eval()
    loss, parts = policy(batch)
    assert set(parts) == {'l1_loss'} and torch.equal(loss, parts['l1_loss'])
    policy.train()  # inference is deterministic (z = 0, no dropout) whatever the module mode
    torch.testing.assert_close(policy.predict_chunk(batch), policy.predict_chunk(batch), rtol=0, atol=0)
    assert policy.training
    without_vae = build(data, use_vae=False).train()
    assert set(without_vae(batch)[1]) == {'l1_loss'}


def test_state_only_and_mixed_camera_sizes():
    state_only = make_policy(ACTConfig.tiny(
        input_features={'observation.state': PolicyFeature('STATE', (4,))},
        output_features={'action': PolicyFeature('ACTION', (3,))}),
        {'observation.state': {'mean': [0.0] * 4, 'std': [1.0] * 4}, 'action': {'mean': [0.0] * 3, 'std': [1.0] * 3}})
    assert state_only.model.backbone is None
    assert state_only.predict_chunk({'observation.state': [0.1, 0.2, 0.3, 0.4]}).shape == (CHUNK, 3)

    features = {'observation.images.a': PolicyFeature('VISUAL', (3, 64, 96)),
                'observation.images.b': PolicyFeature('VISUAL', (3, 40, 40))}
    stats = {'action': {'mean': [0.0] * 3, 'std': [1.0] * 3}}
    outputs = {'action': PolicyFeature('ACTION', (3,))}
    mixed = make_policy(ACTConfig.tiny(input_features=features, output_features=outputs), stats)
    obs = {'observation.images.a': torch.rand(3, 64, 96), 'observation.images.b': torch.rand(3, 40, 40)}
    tokens, _ = mixed.model.image_tokens(mixed.normalizer.normalize_batch({k: v[None] for k, v in obs.items()}))
    assert tokens.shape[1] == 2 * 3 + 2 * 2  # ceil(64/32) x ceil(96/32) + ceil(40/32) x ceil(40/32)
    resized = make_policy(ACTConfig.tiny(input_features=features, output_features=outputs,
                                         resize_images=[32, 64]), stats)
    tokens, _ = resized.model.image_tokens(resized.normalizer.normalize_batch({k: v[None] for k, v in obs.items()}))
    assert tokens.shape[1] == 2 * 2
    assert resized.predict_chunk(obs).shape == (CHUNK, 3)


def test_crop_augmentation_shifts_in_training_and_centres_in_inference():
    config = ACTConfig.tiny(input_features={'observation.images.a': PolicyFeature('VISUAL', (3, 8, 8))},
                            output_features={'action': PolicyFeature('ACTION', (3,))}, crop_images=[4, 4])
    preprocess = config.image_preprocessing
    assert preprocess.crop == (4, 4) and ACTConfig.tiny(color_jitter=0.2).image_preprocessing.color_jitter == 0.2
    image = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8).expand(1, 3, 8, 8) / 64
    assert torch.equal(preprocess(image, training=False), image[..., 2:6, 2:6])
    crops = torch.stack([preprocess(image.expand(16, 3, 8, 8), training=True) for _ in range(4)])
    assert crops.shape == (4, 16, 3, 4, 4) and len({c[0, 0, 0].item() for c in crops.flatten(0, 1)}) > 1
    with pytest.raises(ValueError, match='crop_images'):
        ACTConfig.tiny(crop_images=[4])
    with pytest.raises(ValueError, match='color_jitter'):
        ACTConfig.tiny(color_jitter=1.5)


def test_wrong_chunk_length_is_a_clear_error(data):
    policy = build(data, chunk_size=5, n_action_steps=5)
    with pytest.raises(ValueError, match='chunk_size = 5'):
        policy(batch_of(data, range(2)))


def test_backbone_parameters_form_their_own_group(data):
    policy = build(data)
    [optimizer] = policy.make_optimizers(TrainingPreset(steps=1, batch_size=1, lr=1e-4, backbone_lr=1e-5))
    groups = optimizer.param_groups
    backbone = {id(p) for p in policy.model.backbone.parameters()}
    assert [g['lr'] for g in groups] == [1e-4, 1e-5]
    assert {id(p) for p in groups[1]['params']} == backbone
    assert not backbone & {id(p) for p in groups[0]['params']}


def test_paper_default_and_cpu_presets():
    paper = ACTConfig()
    assert (paper.dim_model, paper.n_heads, paper.n_encoder_layers, paper.n_decoder_layers,
            paper.dim_feedforward, paper.chunk_size, paper.n_action_steps, paper.latent_dim, paper.kl_weight,
            paper.optimizer_lr, paper.optimizer_lr_backbone, paper.optimizer_weight_decay,
            paper.backbone_width, paper.backbone_norm) == (512, 8, 4, 1, 3200, 100, 100, 32, 10.0, 1e-5, 1e-5,
                                                           1e-4, 64, 'frozen_batch_norm')
    recipe = paper.training_preset()
    assert (recipe.steps, recipe.batch_size, recipe.lr, recipe.scheduler, recipe.warmup_steps) == (
        100_000, 8, 1e-5, 'constant', 0)   # LeRobot's ACT recipe
    cpu = ACTConfig.cpu().training_preset()
    assert (cpu.steps, cpu.lr, cpu.scheduler, cpu.warmup_steps, ACTConfig.cpu().dropout) == (
        14_000, 1e-4, 'cosine', 500, 0.0)
    with pytest.raises(ValueError, match='scheduler_name'):
        ACTConfig(scheduler_name='linear')
    inputs = {'observation.state': PolicyFeature('STATE', (6,)),
              'observation.images.front': PolicyFeature('VISUAL', (3, 48, 64))}
    outputs = {'action': PolicyFeature('ACTION', (6,))}
    unit = {'mean': [0.0] * 6, 'std': [1.0] * 6}
    stats = {'observation.state': unit, 'action': unit}
    for config in (ACTConfig(input_features=inputs, output_features=outputs, pretrained_backbone_weights=None),
                   ACTConfig.cpu(input_features=inputs, output_features=outputs)):
        policy = make_policy(config, stats)
        obs = {'observation.state': torch.zeros(6), 'observation.images.front': torch.rand(3, 48, 64)}
        chunk = policy.predict_chunk(obs)
        assert chunk.shape == (config.chunk_size, 6)
    assert sum(p.numel() for p in policy.model.backbone.parameters()) < 3e6  # the slim CPU backbone


def test_sinusoidal_embeddings():
    emb = sinusoid_1d(5, 8)
    assert emb.shape == (5, 8)
    torch.testing.assert_close(emb[3, :2], torch.tensor([math.sin(3.0), math.cos(3.0)]))
    grid = sinusoid_2d(3, 4, 16)
    assert grid.shape == (12, 16) and torch.unique(grid, dim=0).shape[0] == 12  # every position distinct
    torch.testing.assert_close(grid[1, :8], grid[2, :8])  # same row -> same y half
    with pytest.raises(ValueError):
        sinusoid_2d(2, 2, 6)
