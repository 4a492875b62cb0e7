"""The `dojo` command: verbs come from entry points; `dojo urdf` expands the description ROS-free."""
from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from dojo_core.cli import build_parser, main


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
