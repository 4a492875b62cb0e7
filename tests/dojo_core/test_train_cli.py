"""`dojo train` end to end on an expert dataset recorded from the SimCell: the policy config comes from the
dataset's features and stats, the samples carry the action chunk, checkpoints load and predict, the run
records its dataset, and --resume continues the run with the settings it was started with."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dojo_core.cli import main
from dojo_core.dataset import LeRobotDatasetReader
from dojo_core.expert.dataset import record_expert_dataset
from dojo_core.policies import dataset_features, load_policy
from dojo_core.policies.act import PRETRAINED_RESNET18, ACTConfig
from dojo_core.training.run import DATASET_RECORD, read_dataset_record, training_dataset
from expert_data import FAST_EXPERT, small_map

pytestmark = [pytest.mark.usefixtures('torch_one_thread'),
              pytest.mark.slow]  # module fixtures train whole runs through `dojo train`



@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    """Two expert episodes (about 100 frames each) with 64x48 and 32x24 cameras."""
    root = tmp_path_factory.mktemp('train') / 'expert'
    record_expert_dataset(root, 2, seed=0, feature_map=small_map(), expert_config=FAST_EXPERT)
    return root


def train_args(*extra: str) -> list[str]:
    return ['train', '--policy', 'act', '--preset', 'tiny', '--batch-size', '4', '--device', 'cpu',
            '--num-workers', '0', '--seed', '0', '--no-progress', *extra]


@pytest.fixture(scope='module')
def run(dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('run') / 'act'
    assert main(train_args('--dataset', str(dataset), '--out', str(out), '--steps', '3', '--save-every', '2',
                           '--episodes', '0:1')) == 0
    return out


def loss_steps(out: Path) -> list[int]:
    return [int(float(line.split(',')[0])) for line in (out / 'loss.csv').read_text().splitlines()[1:]]


def test_the_checkpoint_loads_predicts_and_records_its_dataset(dataset, run):
    assert loss_steps(run) == [1, 2, 3]
    checkpoints = run / 'checkpoints'
    assert sorted(p.name for p in checkpoints.iterdir()) == ['000002', '000003', 'last']
    policy = load_policy(checkpoints / 'last' / 'pretrained_model')
    reader = LeRobotDatasetReader(dataset)
    inputs, outputs = dataset_features(reader.features)
    assert isinstance(policy.config, ACTConfig) and policy.config.chunk_size == ACTConfig.tiny().chunk_size
    assert policy.config.input_features == inputs and policy.config.output_features == outputs
    assert policy.config.fps == 30
    frame = reader.frame(5)
    chunk = policy.predict_chunk({k: v for k, v in frame.items() if k in inputs})
    assert chunk.shape == (policy.config.chunk_size, 6) and np.all(np.isfinite(chunk))

    for where in (run, checkpoints / '000002' / 'pretrained_model', checkpoints / 'last' / 'pretrained_model'):
        record = read_dataset_record(where)
        assert record.path == str(dataset.resolve()) and record.repo_id == 'local/expert'
        assert record.fps == 30 and record.units == 'radians' and record.episodes == [0]
        assert record.features['observation.state']['names'] == list(inputs['observation.state'].names)
        assert record.features['observation.images.wrist']['shape'] == [24, 32, 3]
    assert (checkpoints / '000003' / 'pretrained_model' / DATASET_RECORD).is_file()


def test_printed_checkpoint_and_training_samples(dataset, run, capsys, tmp_path):
    out = tmp_path / 'again'
    assert main(train_args('--dataset', str(dataset), '--out', str(out), '--steps', '1')) == 0
    printed = capsys.readouterr().out
    assert f'checkpoint: {out}/checkpoints/000001/pretrained_model' in printed
    assert read_dataset_record(out).episodes is None  # all episodes

    # ACT samples: one observation frame, the chunk of the next chunk_size actions, padded at the episode end
    policy = load_policy(run / 'checkpoints' / 'last' / 'pretrained_model')
    reader = LeRobotDatasetReader(dataset)
    samples = training_dataset(reader, policy.config, episodes=[1])
    episode = reader.episodes[1]
    assert len(samples) == episode.length
    last = samples[episode.length - 3]
    actions = reader.column('action')
    assert last['action'].shape == (10, 6) and last['observation.images.front'].shape == (3, 48, 64)
    np.testing.assert_array_equal(last['action'][:3].numpy(), actions[episode.frame_to - 3:episode.frame_to])
    assert last['action_is_pad'].tolist() == [False] * 3 + [True] * 7
    np.testing.assert_array_equal(last['action'][3:].numpy(), np.repeat(actions[[episode.frame_to - 1]], 7, axis=0))


def test_resume_continues_with_the_saved_settings(run, tmp_path):
    out = tmp_path / 'act'
    shutil.copytree(run, out, symlinks=True)
    assert main(['train', '--out', str(out), '--resume', '--steps', '5']) == 0  # dataset from the record
    assert loss_steps(out) == [1, 2, 3, 4, 5]
    saved = json.loads((out / 'checkpoints' / 'last' / 'train_config.json').read_text())
    assert (saved['steps'], saved['batch_size'], saved['seed'], saved['save_every']) == (5, 4, 0, 2)
    assert sorted(p.name for p in (out / 'checkpoints').iterdir()) == ['000002', '000003', '000004', '000005', 'last']
    assert read_dataset_record(out / 'checkpoints' / '000005').episodes == [0]


def test_bad_runs_are_refused_with_a_message(dataset, run, tmp_path, capsys):
    assert main(train_args('--dataset', str(dataset), '--out', str(run), '--steps', '1')) == 1
    assert 'already holds a training run' in capsys.readouterr().err
    assert main(train_args('--dataset', str(tmp_path / 'missing'), '--out', str(tmp_path / 'a'))) == 1
    assert 'missing' in capsys.readouterr().err
    assert main(train_args('--dataset', str(dataset), '--out', str(tmp_path / 'b'), '--episodes', '0:5')) == 1
    assert 'episodes [2, 3, 4] are not in the dataset' in capsys.readouterr().err
    assert main(train_args('--out', str(tmp_path / 'c'), '--resume')) == 1
    assert 'nothing to resume' in capsys.readouterr().err
    assert main(['train', '--out', str(run), '--resume', '--policy-option', 'chunk_size=5']) == 1
    assert 'keeps its policy config' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(train_args('--dataset', str(dataset), '--out', str(tmp_path / 'd'), '--episodes', '5:2'))
    assert 'start:stop' in capsys.readouterr().err


def test_a_policy_type_from_another_package_trains_and_loads_back(dataset, tiny_policy, tmp_path):
    """`dojo train --policy tiny_test`: found through the entry point of a fake distribution; its windows
    (two observation frames, actions from one step back) and its resize decide the samples and the frame cache."""
    out = tmp_path / 'tiny'
    assert main(['train', '--policy', tiny_policy, '--preset', 'tiny', '--dataset', str(dataset), '--out', str(out),
                 '--steps', '3', '--batch-size', '4', '--device', 'cpu', '--num-workers', '0', '--no-progress']) == 0
    manifest = json.loads((out / 'frame_cache' / 'manifest.json').read_text())
    assert manifest['size'] == [16, 20]  # TinyConfig.image_preprocessing.resize
    checkpoint = out / 'checkpoints' / 'last' / 'pretrained_model'
    policy = load_policy(checkpoint)
    assert type(policy).__name__ == 'TinyPolicy' and policy.config.hidden == 16  # the tiny preset
    samples = training_dataset(LeRobotDatasetReader(dataset), policy.config, episodes=[0])
    first = samples[0]
    assert first['observation.state'].shape == (2, 6) and first['observation.images.wrist'].shape == (2, 3, 24, 32)
    assert first['observation.state_is_pad'].tolist() == [True, False]
    assert first['action'].shape == (4, 6) and first['action_is_pad'].tolist() == [True, False, False, False]

    # loading a checkpoint imports its own type's entry point and no other policy type
    script = ('import sys; from dojo_core.policies import load_policy; p = load_policy(sys.argv[1]); '
              'print(type(p).__name__, sorted(m for m in ("dojo_core.policies.act", "dojo_tiny_policy") '
              'if m in sys.modules))')
    done = subprocess.run([sys.executable, '-c', script, str(checkpoint)], capture_output=True, text=True, check=True)
    assert done.stdout.split(None, 1) == ['TinyPolicy', "['dojo_tiny_policy']\n"]


def test_missing_pretrained_weights_fail_at_once_naming_them_and_a_preset_without(dataset, tmp_path, capsys,
                                                                                 monkeypatch):
    from huggingface_hub import constants
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path / 'empty_hub_cache'))
    out = tmp_path / 'paper'
    assert main(['train', '--policy', 'act', '--dataset', str(dataset), '--out', str(out), '--steps', '1',
                 '--device', 'cpu', '--num-workers', '0', '--no-progress']) == 1
    error = capsys.readouterr().err
    assert 'act default preset starts from pretrained weights' in error and PRETRAINED_RESNET18 in error
    assert '--preset cpu / tiny' in error and not out.exists()
