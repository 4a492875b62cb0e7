"""`dojo expert` end to end: sim_node and the pick-and-place expert in separate processes, results printed."""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import pytest

from dojo_sim.expert_episodes import ExpertVerb


@pytest.mark.slow
def test_expert_verb_runs_episodes_and_prints_the_success_rate(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'dojo_core.cli', 'expert', '--out', str(tmp_path), '--episodes', '1',
         '--real-time-factor', '3'],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    episodes = re.findall(r'episode (\d+): (success|FAILED) in ([\d.]+) s sim', result.stdout)
    assert [e[0] for e in episodes] == ['0'], result.stdout
    rate = re.search(r'expert success rate: (\d+)/(\d+) = (\d+)%', result.stdout)
    assert rate and int(rate[2]) == 1, result.stdout
    assert int(rate[1]) == sum(e[1] == 'success' for e in episodes)
    assert (tmp_path / 'sim_node.log').is_file() and (tmp_path / 'pick_place_expert.log').is_file()
    assert 'placed the cube' in (tmp_path / 'pick_place_expert.log').read_text()


def test_expert_verb_refuses_zero_episodes_before_starting_anything(tmp_path, capsys):
    verb = ExpertVerb()
    parser = argparse.ArgumentParser()
    verb.add_arguments(parser)
    assert verb.main(parser.parse_args(['--out', str(tmp_path / 'out'), '--episodes', '0'])) == 2
    assert '--episodes must be at least 1' in capsys.readouterr().out
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_an_episode_cut_by_the_timeout_is_not_saved(tmp_path):
    """--timeout stops the expert mid-run (5 episodes need over 40 s of sim time at real time): the
    recording of the unfinished episode is discarded, every finished one is in the dataset."""
    dataset = tmp_path / 'dataset'
    result = subprocess.run(
        [sys.executable, '-m', 'dojo_core.cli', 'expert', '--out', str(tmp_path / 'logs'), '--episodes', '5',
         '--record', str(dataset), '--timeout', '30'],
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 1, result.stdout + result.stderr   # not every episode was played
    assert "discarding the unfinished episode's recording" in result.stdout, result.stdout
    placed = len(re.findall(r'episode \d+: success in', result.stdout))
    assert placed < 5, result.stdout
    info = json.loads((dataset / 'meta' / 'info.json').read_text()) if (dataset / 'meta' / 'info.json').exists() \
        else {'total_episodes': 0}
    assert info['total_episodes'] == placed, result.stdout
    assert f'recorder: {placed} episode(s) saved in the dataset' in result.stdout, result.stdout


def test_ros_free_recording_writes_the_cube_seeds_of_the_ros_path(tmp_path, capsys):
    """--ros-free --record: the cell and the expert in this process, cube seeds seed + 1 .. as through the nodes;
    the dataset is a LeRobot dataset with the feature map's features; without --record it is refused."""
    verb = ExpertVerb()
    parser = argparse.ArgumentParser()
    verb.add_arguments(parser)
    assert verb.main(parser.parse_args(['--ros-free', '--episodes', '1'])) == 2
    assert '--ros-free records a dataset' in capsys.readouterr().out
    dataset = tmp_path / 'dataset'
    args = parser.parse_args(['--ros-free', '--record', str(dataset), '--episodes', '1', '--seed', '6'])
    assert verb.main(args) == 0
    out = capsys.readouterr().out
    assert 'cube seeds from 7' in out and 'expert success rate: 1/1' in out, out
    info = json.loads((dataset / 'meta' / 'info.json').read_text())
    assert info['total_episodes'] == 1 and info['robot_type'] == 'so101_follower'
    assert {'observation.state', 'action', 'observation.images.front', 'observation.images.wrist'} <= set(
        info['features'])
