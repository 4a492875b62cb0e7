"""Training loop: learning, overfitting one episode, run layout, exact resume, DDP under torchrun.

Run as a script (`python -m torch.distributed.run --nproc_per_node 2 test_training.py OUT`), this
file is also the DDP worker of test_ddp_two_processes.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from dojo_core.policies import ENTRY_POINT_GROUP, dataset_features, load_policy
from dojo_core.policies.act import ACTConfig
from dojo_core.training import TrainConfig, train
from dojo_core.training.config import default_num_workers
from dojo_core.training.run import policy_config
from dojo_core.training.synthetic import SyntheticEpisodes

# every policy type installed through the entry-point group, and the one a test package adds (conftest.py)
POLICY_TYPES = [*sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}), 'tiny_test']


def tiny_config(data: SyntheticEpisodes, **overrides) -> ACTConfig:
    inputs, outputs = dataset_features(data.features)
    return ACTConfig.tiny(input_features=inputs, output_features=outputs, fps=data.fps, **overrides)


def run_config(**overrides) -> TrainConfig:
    return TrainConfig(**{'batch_size': 8, 'num_workers': 0, 'device': 'cpu', 'progress': False, 'seed': 0,
                          **overrides})


def read_rows(path: Path) -> list[dict[str, float]]:
    with path.open(newline='') as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


pytestmark = pytest.mark.usefixtures('torch_one_thread')


@pytest.fixture(scope='module')
def data() -> SyntheticEpisodes:
    return SyntheticEpisodes(n_episodes=2, episode_length=12)


def test_loss_decreases_and_the_run_layout(data, tmp_path):
    result = train(run_config(steps=30, save_every=20), data, tmp_path, tiny_config(data), data.stats)
    rows = read_rows(result.loss_csv)
    assert [r['step'] for r in rows] == list(range(1, 31))
    assert set(rows[0]) == {'step', 'loss', 'l1_loss', 'kl_loss', 'grad_norm', 'lr', 'elapsed_s'}
    first, last = np.mean([r['loss'] for r in rows[:5]]), np.mean([r['loss'] for r in rows[-5:]])
    assert last < 0.5 * first
    assert result.loss_png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    checkpoints = tmp_path / 'checkpoints'
    assert sorted(p.name for p in checkpoints.iterdir()) == ['000020', '000030', 'last']
    assert os.readlink(checkpoints / 'last') == '000030' and result.checkpoint == checkpoints / '000030'
    assert sorted(p.name for p in (checkpoints / '000030').iterdir()) == [
        'pretrained_model', 'train_config.json', 'training_state.pt']
    policy = load_policy(checkpoints / 'last' / 'pretrained_model')
    assert policy.predict_chunk({k: v for k, v in data[0].items() if k.startswith('observation.')}).shape == (10, 6)
    with pytest.raises(FileExistsError, match='resume'):
        train(run_config(steps=31), data, tmp_path, tiny_config(data), data.stats)


@pytest.mark.slow
def test_tiny_act_overfits_one_episode_and_replays_it(tmp_path):
    """One 30-frame episode, two 32x32 cameras whose content moves with the frame index, actions =
    next state (the joints span about 1.7 rad). After 250 steps on it, the policy replays every chunk
    of the episode: over all valid actions of all 30 chunks the mean error is below 0.02 rad and the
    worst below 0.15 rad (seen: 0.016 here, at most 0.10 over six data/training seeds)."""
    episode = SyntheticEpisodes(n_episodes=1, episode_length=30, seed=3)
    result = train(run_config(steps=250, batch_size=30, save_every=250, scheduler='cosine', warmup_steps=10),
                   episode, tmp_path, tiny_config(episode, optimizer_lr=5e-3, optimizer_lr_backbone=5e-3),
                   episode.stats)
    policy = load_policy(result.checkpoint / 'pretrained_model')
    errors = []
    for frame in range(len(episode)):
        sample = episode[frame]
        chunk = policy.predict_chunk({k: v for k, v in sample.items() if k.startswith('observation.')})
        valid = ~sample['action_is_pad'].numpy()
        errors.append(np.abs(chunk[valid] - sample['action'].numpy()[valid]).ravel())
    errors = np.concatenate(errors)
    assert errors.mean() < 0.02 and errors.max() < 0.15, f'mean {errors.mean():.4f}, worst {errors.max():.4f} rad'


def test_resume_continues_exactly_like_an_uninterrupted_run(data, tmp_path):
    config = tiny_config(data)
    # batch 5 of 24 samples: 4 batches per epoch, so the resume at step 3 lands mid-epoch and the
    # continued run crosses into the next epoch
    whole = train(run_config(steps=6, batch_size=5, save_every=3), data, tmp_path / 'whole', config, data.stats)
    train(run_config(steps=3, batch_size=5, save_every=3), data, tmp_path / 'split', config, data.stats)
    resumed = train(run_config(steps=6, batch_size=5, save_every=3), data, tmp_path / 'split', resume=True)
    whole_rows, split_rows = read_rows(whole.loss_csv), read_rows(resumed.loss_csv)
    assert [r['step'] for r in split_rows] == list(range(1, 7))
    for a, b in zip(whole_rows, split_rows):
        assert (a['loss'], a['l1_loss'], a['kl_loss'], a['grad_norm']) == (b['loss'], b['l1_loss'], b['kl_loss'],
                                                                           b['grad_norm'])
    weights = [load_file(str(r.checkpoint / 'pretrained_model' / 'model.safetensors')) for r in (whole, resumed)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    with pytest.raises(FileNotFoundError, match='nothing to resume'):
        train(run_config(steps=6), data, tmp_path / 'empty', resume=True)



def test_a_spent_time_limit_saves_and_stops_the_run(data, tmp_path):
    """A budget spent by the first step (1 ns) stops the loop there with its checkpoint, whatever
    the step count; 0 means no limit."""
    limited = train(run_config(steps=50, save_every=20, time_limit_s=1e-9), data, tmp_path / 'limited',
                    tiny_config(data), data.stats)
    assert limited.step == 1 and limited.time_limited
    assert [r['step'] for r in read_rows(limited.loss_csv)] == [1]
    assert limited.checkpoint == tmp_path / 'limited' / 'checkpoints' / '000001'
    assert json.loads((limited.checkpoint / 'train_config.json').read_text())['time_limit_s'] == 1e-9
    unlimited = train(run_config(steps=2, time_limit_s=0), data, tmp_path / 'unlimited', tiny_config(data),
                      data.stats)
    assert unlimited.step == 2 and not unlimited.time_limited
    with pytest.raises(ValueError, match='time_limit_s'):
        TrainConfig(time_limit_s=-1.0)

def windowed_data(policy_type: str, **kwargs) -> tuple[SyntheticEpisodes, object]:
    """Synthetic episodes with the windows of `policy_type`'s tiny preset, and that config."""
    config = policy_config(policy_type, 'tiny', SyntheticEpisodes().features, SyntheticEpisodes.fps)
    return SyntheticEpisodes(**kwargs, delta_indices=config.delta_indices()), config


def test_a_trainable_with_two_optimizers_a_frozen_backbone_and_an_ema(tiny_policy, tmp_path):
    """The tiny_test type (dojo_tiny_policy.py): history windows, AdamW + SGD, frozen conv, EMA 0.9."""
    data, config = windowed_data(tiny_policy, n_episodes=2, episode_length=12)
    result = train(run_config(steps=60, batch_size=8, save_every=60), data, tmp_path, config, data.stats)
    rows = read_rows(result.loss_csv)
    assert set(rows[0]) == {'step', 'loss', 'mse_loss', 'grad_norm', 'lr', 'elapsed_s'}
    first, last = np.mean([r['loss'] for r in rows[:5]]), np.mean([r['loss'] for r in rows[-5:]])
    assert last < 0.5 * first, (first, last)
    served = load_file(str(result.checkpoint / 'pretrained_model' / 'model.safetensors'))
    state = torch.load(result.checkpoint / 'training_state.pt', weights_only=True)
    assert len(state['optimizers']) == len(state['schedulers']) == 2 and int(state['ema']['n_averaged']) == 60
    raw = state['model']
    assert torch.equal(served['backbone.weight'], raw['backbone.weight'])  # frozen: never trained nor averaged away
    assert not torch.equal(served['head.weight'], raw['head.weight'])  # the checkpoint serves the EMA
    torch.testing.assert_close(served['head.weight'], result.policy.state_dict()['head.weight'])

    # exact resume of all of it: optimizers, schedulers, EMA, raw weights (a constant schedule after the
    # preset's warm-up, since a cosine one depends on the total steps, which the split run raises)
    settings = {'batch_size': 5, 'save_every': 3, 'scheduler': 'constant'}
    whole = train(run_config(steps=6, **settings), data, tmp_path / 'whole', config, data.stats)
    train(run_config(steps=3, **settings), data, tmp_path / 'split', config, data.stats)
    resumed = train(run_config(steps=6, **settings), data, tmp_path / 'split', resume=True)
    assert [r['loss'] for r in read_rows(whole.loss_csv)] == [r['loss'] for r in read_rows(resumed.loss_csv)]
    for name in ('pretrained_model/model.safetensors', 'training_state.pt'):
        a, b = (r.checkpoint / name for r in (whole, resumed))
        a, b = (load_file(str(a)), load_file(str(b))) if name.endswith('safetensors') else \
            (torch.load(a, weights_only=True)['model'], torch.load(b, weights_only=True)['model'])
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_unset_run_settings_take_the_policy_preset_and_workers_the_machine(tiny_policy, tmp_path, monkeypatch):
    data, config = windowed_data(tiny_policy, n_episodes=1, episode_length=12)
    result = train(TrainConfig(steps=2, num_workers=0, device='cpu', progress=False), data, tmp_path, config,
                   data.stats)
    saved = json.loads((result.checkpoint / 'train_config.json').read_text())
    preset = config.training_preset()
    assert (saved['batch_size'], saved['lr'], saved['scheduler'], saved['warmup_steps'], saved['grad_clip_norm']) \
        == (preset.batch_size, preset.lr, 'cosine', 2, 1.0)
    cpus = len(os.sched_getaffinity(0))
    assert TrainConfig().num_workers == default_num_workers() == min(8, cpus)
    monkeypatch.setenv('LOCAL_WORLD_SIZE', str(cpus))  # torchrun with one process per CPU
    assert TrainConfig().num_workers == 1


def ddp_worker(out_dir: Path, policy_type: str) -> None:
    data, config = windowed_data(policy_type, n_episodes=2, episode_length=12)
    result = train(run_config(steps=4, batch_size=4, save_every=2), data, out_dir, config, data.stats)
    # Each rank seeds its own initial weights (seed + rank) and sees different batches: the replicas
    # agree at the end only if DDP broadcast the initial weights and averaged the gradients.
    with torch.no_grad():
        total = sum(float(p.double().sum()) for p in result.policy.parameters())
    (out_dir / f'rank{os.environ["RANK"]}.txt').write_text(repr((os.environ['WORLD_SIZE'], total)))


@pytest.mark.slow  # two torchrun processes per policy type
@pytest.mark.parametrize('policy_type', POLICY_TYPES)
def test_ddp_two_processes_with_torchrun(policy_type, tiny_policy, tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    done = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                           __file__, str(tmp_path), policy_type], env=env, timeout=240, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoints = tmp_path / 'checkpoints'
    assert sorted(p.name for p in checkpoints.iterdir()) == ['000002', '000004', 'last']
    state = torch.load(checkpoints / 'last' / 'training_state.pt', weights_only=True)
    assert state['step'] == 4 and state['world_size'] == 2 and len(state['rng']) == 2
    assert [r['step'] for r in read_rows(tmp_path / 'loss.csv')] == [1, 2, 3, 4]
    reports = [eval((tmp_path / f'rank{r}.txt').read_text()) for r in (0, 1)]
    assert reports[0] == reports[1] and reports[0][0] == '2'
    assert load_policy(checkpoints / 'last' / 'pretrained_model').config.type == policy_type


if __name__ == '__main__':
    ddp_worker(Path(sys.argv[1]), sys.argv[2])
