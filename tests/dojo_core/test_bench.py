"""`dojo bench` end to end on a tiny budget: a two-episode expert dataset, ACT trained for a few steps
(or until a spent wall-clock budget stops it), evaluated through the serving controller on two held-out
seeds; the leaderboard files, the row's numbers, the reproducing command, and rows merged by key."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
import yaml

from dojo_core.bench import BenchRow, budget, ensure_dataset, merge_rows, read_rows
from dojo_core.bench.cli import parse_seeds
from dojo_core.cli import main
from dojo_core.dataset import LeRobotDatasetReader
from dojo_core.evaluation import EvalReport, wilson_interval
from dojo_core.expert.dataset import record_expert_dataset
from dojo_core.policies import load_policy
from dojo_core.policies.act import ACTConfig
from dojo_core.sync import FeatureMap
from expert_data import FAST_EXPERT, small_map_data

pytestmark = pytest.mark.usefixtures('torch_one_thread')



@pytest.fixture(scope='module')
def small_map(tmp_path_factory) -> Path:
    """The sim feature map with 64x48 and 32x24 cameras."""
    path = tmp_path_factory.mktemp('map') / 'small.yaml'
    path.write_text(yaml.safe_dump(small_map_data()))
    return path


@pytest.fixture(scope='module')
def dataset(small_map, tmp_path_factory) -> Path:
    """Two expert episodes (seeds 1 and 2) on the small map."""
    root = tmp_path_factory.mktemp('bench') / 'expert'
    record_expert_dataset(root, 2, seed=1, feature_map=FeatureMap.from_yaml(small_map), expert_config=FAST_EXPERT)
    return root


def bench(dataset: Path, tmp_path: Path, *extra: str) -> int:
    return main(['bench', '--dataset', str(dataset), '--methods', 'act', '--threads', '1', '--num-workers', '0',
                 '--seeds', '1001:1003', '--time-limit', '1', '--out', str(tmp_path / 'results'),
                 '--runs', str(tmp_path / 'runs'), '--no-progress', *extra])


def test_bench_writes_merged_rows_that_reproduce(dataset, tmp_path):
    assert bench(dataset, tmp_path, '--preset', 'tiny', '--steps', '3', '--batch-size', '4') == 0
    results = tmp_path / 'results'
    assert {p.name for p in results.iterdir()} == {'leaderboard.md', 'leaderboard.json', 'leaderboard.png'}
    assert (results / 'leaderboard.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    [saved] = json.loads((results / 'leaderboard.json').read_text())['rows']
    assert (saved['method'], saved['preset'], saved['budget'], saved['device']) == ('act', 'tiny', 'cpu-2core', 'cpu')
    assert saved['trials'] == 2 and [e['seed'] for e in saved['episodes']] == [1001, 1002]
    assert [saved['wilson_low'], saved['wilson_high']] == pytest.approx(wilson_interval(saved['successes'], 2))
    assert (saved['train_steps'], saved['step_cap'], saved['batch_size']) == (3, 3, 4)
    assert not saved['train_time_limited'] and saved['train_time_limit_s'] == 45 * 60
    assert saved['dataset'] == str(dataset) and saved['dataset_episodes'] == 2 and saved['dataset_bytes'] > 0
    assert saved['predictions'] >= 2 and 0 < saved['latency_p50_ms'] <= saved['latency_p99_ms']
    run = tmp_path / 'runs' / 'act-tiny-cpu-2core'
    assert saved['run_dir'] == str(run) and Path(saved['eval_report']) == run / 'eval' / 'report.json'
    report = EvalReport.from_dict(json.loads(Path(saved['eval_report']).read_text())['reports'][0])
    assert [e.seed for e in report.episodes] == [1001, 1002] and report.successes == saved['successes']
    # every failure is traced and classified; the table shows where they stopped
    assert all(e.phase for e in report.episodes) and (run / 'eval' / 'failures.md').is_file()
    failed = [e['phase'] for e in saved['episodes'] if not e['success']]
    assert all(f'{phase} {failed.count(phase)}' in (results / 'leaderboard.md').read_text() for phase in failed)
    policy = load_policy(run / 'checkpoints' / 'last' / 'pretrained_model')
    assert saved['parameters'] == sum(p.numel() for p in policy.parameters())
    assert saved['inputs'] == 'front 64x48, wrist 32x24, state (6)'
    assert saved['inputs'] in (results / 'leaderboard.md').read_text()
    command = shlex.split(saved['command'])
    assert command[:2] == ['dojo', 'bench'] and '--reuse' not in command
    for option, value in (('--dataset', str(dataset)), ('--demos', '2'), ('--methods', 'act'), ('--preset', 'tiny'),
                          ('--budget', 'cpu-2core'), ('--steps', '3'), ('--batch-size', '4'), ('--threads', '1'),
                          ('--seeds', '1001:1003'), ('--time-limit', '1')):
        assert command[command.index(option) + 1] == value, option
    assert saved['command'] in (results / 'leaderboard.md').read_text()

    # another preset is another row; a spent wall-clock budget ends its training after one step
    assert bench(dataset, tmp_path, '--preset', 'cpu', '--batch-size', '2', '--train-minutes', '1e-9') == 0
    rows = read_rows(results / 'leaderboard.json')
    assert sorted(r.preset for r in rows) == ['cpu', 'tiny']
    cpu = next(r for r in rows if r.preset == 'cpu')
    assert cpu.train_steps == 1 and cpu.train_time_limited and cpu.step_cap == ACTConfig.cpu().training_steps
    assert '--train-minutes 1e-09' in cpu.command

    # the same key again (the trained run reused, evaluated with another episode limit) replaces its row
    assert bench(dataset, tmp_path, '--preset', 'tiny', '--steps', '3', '--batch-size', '4', '--time-limit', '2') == 1
    assert bench(dataset, tmp_path, '--preset', 'tiny', '--steps', '3', '--batch-size', '4', '--time-limit', '2',
                 '--reuse') == 0
    rows = read_rows(results / 'leaderboard.json')
    assert sorted(r.preset for r in rows) == ['cpu', 'tiny']
    tiny = next(r for r in rows if r.preset == 'tiny')
    assert tiny.episode_time_limit_s == 2 and tiny.train_steps == 3 and '--time-limit 2' in tiny.command


def test_merge_keeps_other_rows_and_replaces_the_same_key():
    def row(method: str, budget_name: str, successes: int, dataset: str = 'd') -> BenchRow:
        return BenchRow(method, 'cpu', budget_name, 'cpu', 'CPU', dataset, 2, 100, 1, 'sha', 1.0, 1, False, 60.0, 1,
                        8, '1:3', 1.0, 1.0, 2.0, 2, 10, 'dojo bench', 'now', 'run', 'report.json',
                        [{'seed': s, 'success': s <= successes, 'duration_s': 1.0} for s in (1, 2)])

    merged = merge_rows([row('act', 'cpu-2core', 0), row('act', 'gpu', 1)], [row('act', 'cpu-2core', 2)])
    assert [(r.budget, r.report().successes) for r in merged] == [('cpu-2core', 2), ('gpu', 1)]  # best first
    merged = merge_rows(merged, [row('act', 'cpu-2core', 0, dataset='e')])
    assert len(merged) == 3
    assert BenchRow.from_dict(json.loads(json.dumps(merged[0].to_dict()))) == merged[0]


def test_a_missing_dataset_is_recorded_first_and_must_not_use_the_held_out_seeds(small_map, tmp_path):
    dataset = tmp_path / 'new'
    assert bench(dataset, tmp_path, '--demos', '1', '--feature-map', str(small_map), '--seeds', '1:3') == 1
    assert LeRobotDatasetReader(dataset).num_episodes == 1   # seed 1, which the evaluation then refuses
    assert not (tmp_path / 'runs').exists()


def test_refusals(dataset, tmp_path, monkeypatch):
    assert ensure_dataset(dataset, 5) is None   # an existing dataset is used as it is
    assert parse_seeds('1001:1004,7') == [1001, 1002, 1003, 7]
    with pytest.raises(Exception, match='seeds must be'):
        parse_seeds('5:5')
    assert bench(dataset, tmp_path, '--preset', 'no-such-preset') == 1
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(ValueError, match='no CUDA device'):
        budget('gpu').check_available()
    assert bench(dataset, tmp_path, '--budget', 'gpu') == 1
    assert not (tmp_path / 'results').exists() and not (tmp_path / 'runs').exists()
