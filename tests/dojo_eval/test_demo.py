"""`dojo demo` end to end: record -> train -> eval -> report as `dojo` subprocesses, resumable, failing loudly.

The quick run is the real loop on a tiny budget (3 live demonstrations, 20 training steps, 2
evaluation episodes per agent): minutes on a 2-core machine, the longest test of the suite.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dojo_eval.demo import DemoVerb

REPO = Path(__file__).resolve().parents[2]
AGENTS = (r'ACT \(cpu preset, 20 steps\)', 'scripted expert')
EVAL_STAGES = ('eval act', 'eval expert')


def run_demo(*argv: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'dojo_core.cli', 'demo', *argv], capture_output=True, text=True,
                          timeout=timeout)


def banner(stage: str) -> re.Pattern:
    """A stage's banner and what follows it, up to the next banner."""
    return re.compile(rf'=== dojo demo \[\d/4\] {stage}: .*?\n(.*?)(?=\n=== dojo demo|\Z)', re.S)


def final_lines(stdout: str) -> str:
    return stdout.partition('dojo demo: success rates on 2 held-out cube seeds (1001-1002)')[2]


@pytest.mark.slow
def test_quick_demo_runs_the_loop_and_a_second_run_continues_where_it_stopped(tmp_path):
    out = tmp_path / 'demo'
    first = run_demo('--quick', '--out', str(out), timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    info = json.loads((out / 'dataset' / 'meta' / 'info.json').read_text())
    assert 2 <= info['total_episodes'] <= 3   # an episode the expert fails is discarded
    assert (out / 'act' / 'checkpoints' / 'last' / 'pretrained_model' / 'model.safetensors').is_file()
    for stage in ('record', 'train', *EVAL_STAGES):
        assert '$ dojo ' in banner(stage).search(first.stdout)[1], stage
    summary = final_lines(first.stdout)
    for agent in AGENTS:
        assert re.search(rf'^{agent}: \d/2 = [\d.]+ % \(95 % CI ', summary, re.M), summary

    report = (out / 'report.md').read_text()
    for agent in AGENTS:
        assert re.search(rf'^\| {agent} \| 2 \| \d \| [\d.]+ % \|', report, re.M), report
    assert f'- demonstrations: {info["total_episodes"]} episodes, {info["total_frames"]} frames' in report
    assert 'seeds 1001-1002, none of them a demonstration' in report
    assert '20 steps of batch 8' in report and '[act/loss.png](act/loss.png)' in report
    assert (out / 'act' / 'loss.png').is_file() and (out / 'success.png').is_file()
    run = json.loads((out / 'report.json').read_text())
    assert [r['name'] for r in run['reports']] == ['ACT (cpu preset, 20 steps)', 'scripted expert']
    assert [s['stage'] for s in run['run']['stages']] == ['record', 'train', *EVAL_STAGES]
    assert run['run']['training']['steps'] == 20 and run['run']['training']['wall_s'] > 0
    assert [e['seed'] for e in run['reports'][0]['episodes']] == [1001, 1002]
    assert (out / 'logs' / 'train.log').read_text().count('checkpoint') >= 4   # every 5 steps

    second = run_demo('--quick', '--out', str(out), timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert '$ dojo ' not in second.stdout   # no stage ran again
    assert f'holds {info["total_episodes"]} demonstrations' in banner('record').search(second.stdout)[1]
    assert 'is trained to step 20' in banner('train').search(second.stdout)[1]
    for stage in EVAL_STAGES:
        assert banner(stage).search(second.stdout)[1].startswith('skipped: '), stage
    assert json.loads((out / 'dataset' / 'meta' / 'info.json').read_text()) == info
    assert {s['status'] for s in json.loads((out / 'report.json').read_text())['run']['stages']} == {'skipped'}
    assert final_lines(second.stdout).splitlines()[1:] == summary.splitlines()[1:]

    # More demonstrations asked for: the recording continues where it ended, the rest is kept.
    third = run_demo('--quick', '--episodes', str(info['total_episodes'] + 1), '--out', str(out), timeout=300)
    assert third.returncode == 0, third.stdout + third.stderr
    assert f'$ dojo expert --episodes 1 --seed {info["total_episodes"]} ' in third.stdout
    grown = json.loads((out / 'dataset' / 'meta' / 'info.json').read_text())
    assert grown['total_episodes'] == info['total_episodes'] + 1, third.stdout
    assert json.loads((out / 'record.json').read_text())['episodes'] == info['total_episodes'] + 1


@pytest.mark.slow
def test_a_failing_stage_stops_the_demo_and_says_which(tmp_path):
    out = tmp_path / 'demo'
    # a dataset whose info.json is there (so recording is skipped) but whose data files are not
    (out / 'dataset' / 'meta').mkdir(parents=True)
    shutil.copy(REPO / 'tests' / 'data' / 'lerobot_v30' / 'meta' / 'info.json', out / 'dataset' / 'meta')
    (out / 'record.json').write_text(json.dumps({'episodes': 3, 'seed': 0}))
    result = run_demo('--quick', '--out', str(out), timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert banner('record').search(result.stdout)[1].startswith('skipped: ')
    assert f'dojo demo: stage train failed (exit code 1): its output is above and in {out / "logs" / "train.log"}; ' \
           'later stages were not run' in result.stdout
    assert 'dojo train: ' in (out / 'logs' / 'train.log').read_text()
    assert '=== dojo demo [3/4]' not in result.stdout and '=== dojo demo [4/4]' not in result.stdout
    assert not (out / 'eval').exists() and not (out / 'report.md').exists()


def test_bad_budgets_stop_before_anything_runs(tmp_path, capsys):
    verb = DemoVerb()
    parser = argparse.ArgumentParser()
    verb.add_arguments(parser)
    for bad in (['--steps', '0'], ['--eval-episodes', '0'], ['--time-limit', '-1'], ['--episodes', '1001']):
        assert verb.main(parser.parse_args(['--quick', '--out', str(tmp_path / 'out'), *bad])) == 2, bad
    printed = capsys.readouterr().out
    assert '--steps must be at least 1' in printed and 'evaluation seeds 1001.. stay held out' in printed
    assert not (tmp_path / 'out').exists()
