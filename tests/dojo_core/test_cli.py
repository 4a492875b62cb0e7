"""The `dojo` command: verbs come from entry points; `dojo urdf` expands the description ROS-free."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dojo_core.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


def test_installed_packages_register_their_verbs():
    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == 'verb').choices
    assert {'urdf', 'demo'} <= set(verbs)


def test_urdf_verb_writes_the_requested_variant(tmp_path):
    out = tmp_path / 'so101.urdf'
    assert main(['urdf', '--hardware-type', 'topic', '--arg', 'joint_commands_topic:=cmd', '-o', str(out)]) == 0
    root = ET.parse(out).getroot()
    params = {p.get('name'): p.text for p in root.iter('param')}
    assert params['joint_commands_topic'] == 'cmd'
    assert root.find('ros2_control/hardware/plugin').text == \
        'joint_state_topic_hardware_interface/JointStateTopicSystem'


def test_bad_arguments_fail_clearly():
    with pytest.raises(SystemExit, match='NAME:=VALUE'):
        main(['urdf', '--arg', 'prefix'])
    result = subprocess.run([sys.executable, '-m', 'dojo_core.cli', 'urdf', '--hardware-type', 'real'],
                            capture_output=True, text=True)
    assert result.returncode == 2 and 'invalid choice' in result.stderr


DATASET_INFO = ['dataset', 'info', str(REPO / 'tests' / 'data' / 'lerobot_v30')]


@pytest.mark.slow
@pytest.mark.parametrize('argv, unbuffered', [(DATASET_INFO, False), (DATASET_INFO, True), (['--help'], False)],
                         ids=['dataset-info', 'dataset-info-unbuffered', 'help'])
def test_a_closed_pipe_ends_a_verb_quietly(argv, unbuffered):
    """`dojo dataset info X | head -1`: the reader is gone before dojo writes (closed here at once,
    so the write fails whatever the output size), with stdout block-buffered as in a shell (the
    error comes at the flush) or unbuffered (at the print); no traceback, status 1 (Python's docs)."""
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONUNBUFFERED'}
    if unbuffered:
        env['PYTHONUNBUFFERED'] = '1'
    proc = subprocess.Popen([sys.executable, '-m', 'dojo_core.cli', *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 1, stderr
    assert stderr == ''
