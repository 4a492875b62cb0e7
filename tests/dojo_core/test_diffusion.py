"""Diffusion Policy: the objectives (diffusers' schedules, flow matching), the network's windows and
shapes, checkpoints, and the observation history really reaching the model (in training and serving)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dojo_core.policies import dataset_features, load_policy, make_policy
from dojo_core.policies.denoising import DenoisingSettings, DiffusionObjective, make_objective
from dojo_core.policies.diffusion import DiffusionConfig, DiffusionPolicy
from dojo_core.training.synthetic import SyntheticEpisodes

pytestmark = pytest.mark.usefixtures('torch_one_thread')


def build(data: SyntheticEpisodes, **overrides) -> DiffusionPolicy:
    inputs, outputs = dataset_features(data.features)
    torch.manual_seed(0)
    return make_policy(DiffusionConfig.tiny(input_features=inputs, output_features=outputs, fps=data.fps,
                                            **overrides), data.stats)


def windows(config: DiffusionConfig) -> dict:
    return config.delta_indices()


@pytest.fixture(scope='module')
def data() -> SyntheticEpisodes:
    config = DiffusionConfig.tiny()
    keys = ('observation.state', 'observation.images.front', 'observation.images.wrist')
    return SyntheticEpisodes(n_episodes=2, episode_length=16, image_size=(24, 32),
                             delta_indices={'action': config.action_delta_indices,
                                            **{k: config.observation_delta_indices for k in keys}})


def batch_of(data: SyntheticEpisodes, indices) -> dict:
    samples = [data[i] for i in indices]
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0] if k != 'task'}


# Objectives -------------------------------------------------------------------------------------

@pytest.mark.parametrize('scheduler', ['DDIM', 'DDPM'])
@pytest.mark.parametrize('prediction', ['epsilon', 'sample'])
def test_denoising_with_the_true_noise_recovers_the_sample(scheduler, prediction):
    """Noise added by the training schedule and removed by the inference schedule with an oracle denoiser
    (the exact noise, or the exact sample) gives back the clean chunk."""
    settings = DenoisingSettings(num_train_timesteps=100, num_inference_steps=10, inference_scheduler=scheduler,
                                 prediction_type=prediction)
    objective = DiffusionObjective(settings)
    torch.manual_seed(0)
    clean = torch.rand(3, 8, 6) * 1.8 - 0.9
    noisy, timesteps, target = objective.training_pair(clean)
    alphas = objective.train_scheduler.alphas_cumprod[timesteps.long()][:, None, None]
    if prediction == 'epsilon':   # the training pair is x_t = sqrt(a) x0 + sqrt(1 - a) eps, target eps
        torch.testing.assert_close((noisy - (1 - alphas).sqrt() * target) / alphas.sqrt(), clean)
    else:
        torch.testing.assert_close(target, clean)
    cumprod = objective.inference_scheduler.alphas_cumprod

    def oracle(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if prediction == 'sample':
            return clean
        a = cumprod[t.long()][:, None, None]
        return (x - a.sqrt() * clean) / (1 - a).sqrt()

    recovered = objective.sample(oracle, torch.randn_like(clean))
    torch.testing.assert_close(recovered, clean, atol=1e-4, rtol=0)


def test_flow_matching_integrates_the_true_velocity_back_to_the_sample():
    objective = make_objective(DenoisingSettings(objective='flow_matching', num_inference_steps=5))
    torch.manual_seed(0)
    clean = torch.randn(2, 8, 6)
    noisy, timesteps, target = objective.training_pair(clean)
    t = timesteps / 100
    noise = target + clean                           # target is the velocity noise - clean
    torch.testing.assert_close(noisy, t[:, None, None] * noise + (1 - t[:, None, None]) * clean)
    recovered = objective.sample(lambda x, _t: noise - clean, noise)
    torch.testing.assert_close(recovered, clean, atol=1e-5, rtol=0)


def test_settings_are_checked():
    with pytest.raises(ValueError, match='objective'):
        DenoisingSettings(objective='gan')
    with pytest.raises(ValueError, match='num_inference_steps'):
        DenoisingSettings(num_train_timesteps=10, num_inference_steps=20)


# Config and network -----------------------------------------------------------------------------

def test_windows_follow_the_observation_history_and_horizon():
    config = DiffusionConfig()
    assert (config.n_obs_steps, config.horizon, config.n_action_steps) == (2, 16, 8)   # the paper's
    assert config.observation_delta_indices == [-1, 0]
    assert config.action_delta_indices == list(range(-1, 15))     # the horizon starts at the oldest frame
    assert config.chunk_size == 15                                   # served: from the current step on
    assert DiffusionConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match='derived'):
        DiffusionConfig(chunk_size=16)
    with pytest.raises(ValueError, match='multiple of 4'):
        DiffusionConfig(horizon=18)
    cpu = DiffusionConfig.cpu()
    assert cpu.chunk_size == 31 and cpu.training_preset().ema_decay == 0.995
    assert DiffusionConfig.preset('paper') == DiffusionConfig()


@pytest.mark.parametrize('objective', ['diffusion', 'flow_matching'])
def test_forward_and_inference_shapes(data, objective):
    policy = build(data, objective=objective)
    batch = batch_of(data, range(4))
    assert batch['action'].shape == (4, 8, 6) and batch['observation.images.front'].shape == (4, 2, 3, 24, 32)
    loss, parts = policy(batch)
    assert loss.shape == () and set(parts) == {f'{objective}_loss'}
    loss.backward()
    encoder = policy.model.observation_encoder
    assert len(encoder.encoders) == 2 and encoder.cond_dim == 2 * (6 + 2 * 2 * 4)
    assert all(p.grad is not None for p in encoder.parameters() if p.requires_grad)
    assert policy.predict_chunk(batch).shape == (4, 7, 6)


def test_padding_is_masked_only_when_asked(data):
    """The masked loss averages over the real actions only: the same as the unmasked loss where nothing is
    padding, different where the horizon runs past the episode end."""
    def losses(indices) -> list[torch.Tensor]:
        out = []
        for mask in (True, False):
            policy = build(data, do_mask_loss_for_padding=mask)
            torch.manual_seed(1)
            out.append(policy(batch_of(data, indices))[0])
        return out

    inside, near_end = [3, 4, 5], [13, 14, 15]
    assert not batch_of(data, inside)['action_is_pad'].any() and batch_of(data, near_end)['action_is_pad'].any()
    assert torch.equal(*losses(inside))
    assert not torch.equal(*losses(near_end))


def test_state_only_config_has_no_encoders(data):
    inputs, outputs = dataset_features(data.features)
    policy = make_policy(DiffusionConfig.tiny(input_features={'observation.state': inputs['observation.state']},
                                              output_features=outputs), data.stats)
    assert len(policy.model.observation_encoder.encoders) == 0
    batch = batch_of(data, range(2))
    assert policy.predict_chunk({'observation.state': batch['observation.state']}).shape == (2, 7, 6)


# Checkpoints and history ------------------------------------------------------------------------

def test_save_load_gives_identical_chunks_under_a_fixed_seed(data, tmp_path):
    policy = build(data)
    with torch.no_grad():       # move the weights off their initial values
        for param in policy.parameters():
            param.add_(0.01 * torch.randn_like(param))
    observation = {k: v[0] for k, v in batch_of(data, [5]).items() if k in policy.config.input_features}
    torch.manual_seed(7)
    before = policy.predict_chunk(observation)
    policy.save_pretrained(tmp_path / 'ckpt')
    loaded = load_policy(tmp_path / 'ckpt')
    assert isinstance(loaded, DiffusionPolicy) and loaded.config == policy.config
    torch.manual_seed(7)
    np.testing.assert_array_equal(loaded.predict_chunk(observation), before)
    torch.manual_seed(8)
    assert not np.array_equal(loaded.predict_chunk(observation), before)   # the seed matters: it samples


def test_the_model_reads_both_frames_of_its_history(data):
    """Changing only the older frame of the history changes the chunk (a collapsed history would not)."""
    policy = build(data)
    observation = {k: v[0] for k, v in batch_of(data, [5]).items() if k in policy.config.input_features}
    assert len(observation) == 3
    for key in observation:
        older = {**observation, key: observation[key].clone()}
        older[key][0] = torch.flip(older[key][0], dims=[-1]) if 'images' in key else older[key][0] + 0.5
        torch.manual_seed(3)
        a = policy.predict_chunk(observation)
        torch.manual_seed(3)
        b = policy.predict_chunk(older)
        assert not np.allclose(a, b), f'the older frame of {key} does not reach the model'


def test_training_samples_hold_two_distinct_frames(data):
    sample = data[5]
    assert sample['observation.state'].shape == (2, 6)
    assert not torch.equal(sample['observation.state'][0], sample['observation.state'][1])
    assert not torch.equal(sample['observation.images.front'][0], sample['observation.images.front'][1])
    first = data[0]          # the episode's first frame: the missing older frame repeats it and is flagged
    assert torch.equal(first['observation.state'][0], first['observation.state'][1])
    assert first['observation.state_is_pad'].tolist() == [True, False]
