"""`dojo eval` end to end: sim_node, policy_node (or the expert node) as processes, the report read back."""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dojo_core.evaluation import wilson_interval
from dojo_eval.evaluate import EvalVerb

TIME_LIMIT = 1.5


def run_eval(*argv: str) -> int:
    verb = EvalVerb()
    parser = argparse.ArgumentParser()
    verb.add_arguments(parser)
    return verb.main(parser.parse_args(argv))


def read_report(out) -> dict:
    return json.loads((out / 'report.json').read_text())['reports'][0]


@pytest.mark.slow
def test_policy_episodes_through_the_nodes_write_the_report(policy_files, tmp_path, capsys):
    code = run_eval('--policy', str(policy_files['random']), '--feature-map', str(policy_files['small_map']),
                    '--episodes', '2', '--seed', '5', '--time-limit', str(TIME_LIMIT), '--out', str(tmp_path),
                    # real time, as a robot runs: at 2x a loaded 2-core machine starved the node of ticks
                    '--real-time-factor', '1', '--device', 'cpu', '--policy-config', str(policy_files['policy_yaml']),
                    '--sim-config', str(policy_files['sim_yaml']))
    printed = capsys.readouterr().out
    assert code == 0, printed + (tmp_path / 'policy_node.log').read_text()
    report = read_report(tmp_path)
    assert report['trials'] == 2 and report['name'] == 'random'
    assert [e['seed'] for e in report['episodes']] == [6, 7]   # sim_node seed 5: resets 1 and 2
    low, high = wilson_interval(report['successes'], 2)
    assert report['interval'] == [low, high]
    holds = report['info']['holds_per_episode']
    assert report['info']['holds'] == sum(holds) == sum(report['info']['holds_by_reason'].values())
    for episode, episode_holds in zip(report['episodes'], holds):
        # the node ran through the episode: every control step became a command or a counted hold
        assert episode['steps'] + episode_holds >= 0.5 * 30 * TIME_LIMIT, (episode, episode_holds)
        assert f'{episode_holds} holds' in episode['reason']
        assert episode['success'] or episode['duration_s'] == TIME_LIMIT
    assert float(report['info']['latency_p50_ms']) > 0
    markdown = (tmp_path / 'report.md').read_text()
    assert '95 % CI (Wilson)' in markdown and '| random | 2 |' in markdown
    assert (tmp_path / 'success.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'random: ' in printed and 'episode 1 (cube seed 7)' in printed


@pytest.mark.slow
def test_the_same_episodes_without_ros_run_the_same_serving_controller(policy_files, tmp_path, capsys):
    code = run_eval('--policy', str(policy_files['random']), '--feature-map', str(policy_files['small_map']),
                    '--episodes', '2', '--seed', '5', '--time-limit', str(TIME_LIMIT), '--out', str(tmp_path),
                    '--device', 'cpu', '--policy-config', str(policy_files['policy_yaml']), '--ros-free')
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = read_report(tmp_path)
    assert [e['seed'] for e in report['episodes']] == [6, 7] and report['info']['ros_free']
    assert report['info']['execution'].startswith('queue (') and 'replace' in report['info']['execution']
    for episode, episode_holds in zip(report['episodes'], report['info']['holds_per_episode']):
        assert episode['steps'] == round(30 * TIME_LIMIT) or episode['success']
        assert f'{episode_holds} holds' in episode['reason']
    assert not (tmp_path / 'policy_node.log').exists()   # no node was started
    # where each episode stopped, and the failure analysis beside the report
    assert all(episode['phase'] for episode in report['episodes'])
    analysis = json.loads((tmp_path / 'failures.json').read_text())
    assert [e['seed'] for e in analysis['per_episode']] == [6, 7]
    assert [e['phase'] for e in analysis['per_episode']] == [e['phase'] for e in report['episodes']]
    assert (tmp_path / 'failures.md').is_file() and f'failure analysis: {tmp_path}/failures.md' in printed


@pytest.mark.slow
def test_expert_episodes_through_the_expert_node(tmp_path, capsys):
    code = run_eval('--policy', 'expert', '--episodes', '1', '--seed', '3', '--time-limit', '30', '--out',
                    str(tmp_path), '--real-time-factor', '0')
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = read_report(tmp_path)
    assert report['trials'] == 1 and report['episodes'][0]['seed'] == 4
    episode = report['episodes'][0]
    logged = (tmp_path / 'pick_place_expert.log').read_text()   # the expert's own account of the episode
    assert f'episode 0: {"success" if episode["success"] else "FAILED"} in {episode["duration_s"]:.2f} s sim' in logged
    assert episode['steps'] > 0 and (tmp_path / 'success.png').is_file()


def test_bad_arguments_stop_before_starting_anything(tmp_path, capsys, policy_files):
    assert run_eval('--policy', 'x', '--episodes', '0', '--out', str(tmp_path / 'a')) == 2
    relay = str(policy_files['relay_map'])   # a camera topic the sim cell does not publish
    assert run_eval('--policy', 'x', '--feature-map', relay, '--out', str(tmp_path / 'b')) == 2
    assert 'relay/front/image_raw' in capsys.readouterr().out
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()


def child_pids(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc)."""
    children = set()
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def test_a_signal_mid_evaluation_stops_it_cleanly_and_takes_the_nodes_down(tmp_path):
    """SIGTERM while episodes run (rclpy's handler ends the spin): a clear line, exit 130, no traceback,
    and no sim or expert process left behind."""
    process = subprocess.Popen([sys.executable, '-m', 'dojo_core.cli', 'eval', '--policy', 'expert', '--episodes',
                                '20', '--seed', '3', '--time-limit', '30', '--out', str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / 'pick_place_expert.log').is_file() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    time.sleep(3)   # inside the first episode
    nodes = child_pids(process.pid)
    assert nodes, 'the evaluation should have started its node processes'
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert 'stopped by a signal' in out and 'Traceback' not in err, (out, err)
    assert not any(Path(f'/proc/{pid}').exists() for pid in nodes), 'node processes outlived the evaluation'
