"""Installing dojo on a ROS 2 Jazzy machine (Ubuntu 24.04), checked offline.

`rosdep install -i --from-paths src -y` resolves every dependency key of every src/*/package.xml
(any package added later included); the keys must be those of tests/data/rosdep_keys.yaml, the
list tools/rosdep_keys.py derives from a ros/rosdistro snapshot (ROS packages released into Jazzy,
system keys of rosdep/base.yaml and rosdep/python.yaml with their noble packages).
"""
from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
KEY_LIST = REPO / 'tests' / 'data' / 'rosdep_keys.yaml'
PACKAGE_XMLS = sorted((REPO / 'src').glob('*/package.xml'))


def _load_tool():
    spec = importlib.util.spec_from_file_location('rosdep_keys', REPO / 'tools' / 'rosdep_keys.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rosdep_keys = _load_tool()
WORKSPACE_NAMES, WORKSPACE_KEYS = rosdep_keys.workspace(REPO / 'src')
# A build type that is no rosdep key (ament_cmake and cmake are both: a C++ package lists them).
BUILD_TYPES_WITHOUT_KEY = {'ament_python'}


def key_list() -> dict:
    return yaml.safe_load(KEY_LIST.read_text())


def rosdep_problems(package_xml: Path, known: set[str], workspace_names: set[str]) -> list[str]:
    """Why `rosdep install` would stop on this package.xml (empty if it would not)."""
    problems = []
    for key in sorted(rosdep_keys.dependency_keys(package_xml) - workspace_names - known):
        if key in BUILD_TYPES_WITHOUT_KEY:
            problems.append(f'{key} is a build type, no rosdep key: declare it only in <export><build_type>')
        else:
            problems.append(f'{key} is no rosdep key for Jazzy on noble (Python-only: requirements.txt; '
                            f'else regenerate {KEY_LIST.relative_to(REPO)} with tools/rosdep_keys.py)')
    return problems


def test_the_key_list_names_its_source_and_platform():
    data = key_list()
    assert data['rosdistro']['repository'] == 'https://github.com/ros/rosdistro'
    assert len(data['rosdistro']['commit']) == 40 and data['rosdistro']['date']
    assert data['platform'] == {'ros_distro': 'jazzy', 'os': 'ubuntu', 'codename': 'noble'}
    sources = {'jazzy/distribution.yaml', 'rosdep/base.yaml', 'rosdep/python.yaml'}
    for key, entry in data['keys'].items():
        assert entry['source'] in sources and entry['noble'], key


def test_the_workspace_has_packages_and_the_key_list_has_exactly_their_keys():
    assert len(PACKAGE_XMLS) >= 9 and {'dojo_core', 'dojo_bringup'} <= WORKSPACE_NAMES
    assert set(key_list()['keys']) == WORKSPACE_KEYS


@pytest.mark.parametrize('package_xml', PACKAGE_XMLS, ids=lambda p: p.parent.name)
def test_every_dependency_of_the_package_is_a_rosdep_key(package_xml: Path):
    problems = rosdep_problems(package_xml, set(key_list()['keys']), WORKSPACE_NAMES)
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('package_xml', PACKAGE_XMLS, ids=lambda p: p.parent.name)
def test_the_package_declares_its_build_type(package_xml: Path):
    assert rosdep_keys.parse_package(str(package_xml)).get_build_type() == 'ament_python'


def test_the_checker_reads_every_dependency_tag_and_evaluates_conditions(tmp_path: Path):
    package_xml = tmp_path / 'package.xml'
    package_xml.write_text(textwrap.dedent('''\
        <?xml version="1.0"?>
        <package format="3">
          <name>new_pkg</name><version>0.0.1</version><description>d</description>
          <maintainer email="dojo@example.org">m</maintainer><license>Apache-2.0</license>
          <buildtool_depend>ament_python</buildtool_depend>
          <depend>rclpy</depend>
          <build_depend>key_build</build_depend>
          <build_export_depend>key_build_export</build_export_depend>
          <exec_depend>dojo_core</exec_depend>
          <exec_depend condition="$ROS_VERSION == 2">key_ros2</exec_depend>
          <exec_depend condition="$ROS_VERSION == 1">key_ros1_only</exec_depend>
          <exec_depend condition="$ROS_DISTRO != jazzy">key_not_on_jazzy</exec_depend>
          <test_depend>key_test</test_depend>
          <doc_depend>key_doc</doc_depend>
          <export><build_type>ament_python</build_type></export>
        </package>
        '''))
    assert rosdep_keys.dependency_keys(package_xml) == {
        'ament_python', 'rclpy', 'key_build', 'key_build_export', 'dojo_core', 'key_ros2', 'key_test', 'key_doc'}
    problems = rosdep_problems(package_xml, {'rclpy', 'key_build', 'key_doc'}, {'dojo_core'})
    assert [p.split()[0] for p in problems] == ['ament_python', 'key_build_export', 'key_ros2', 'key_test']
    assert 'build type' in problems[0] and 'build type' not in problems[1]


def test_the_tool_resolves_ros_packages_and_system_keys_for_noble(tmp_path: Path):
    (tmp_path / 'rosdep').mkdir()
    (tmp_path / 'jazzy').mkdir()
    (tmp_path / 'jazzy' / 'distribution.yaml').write_text(yaml.safe_dump({'repositories': {
        'rclpy': {'release': {'version': '7.1.11-1'}},
        'common_interfaces': {'release': {'packages': ['std_msgs', 'sensor_msgs'], 'version': '5.3.8-1'}},
        'unreleased': {'release': {'packages': ['unreleased_pkg']}},
        'source_only': {'source': {'type': 'git'}}}}))
    (tmp_path / 'rosdep' / 'base.yaml').write_text(yaml.safe_dump({
        'libfoo': {'ubuntu': {'jammy': ['libfoo1'], 'noble': ['libfoo2']}},
        'bar': {'debian': ['bar']}}))
    (tmp_path / 'rosdep' / 'python.yaml').write_text(yaml.safe_dump({
        'python3-numpy': {'ubuntu': ['python3-numpy']},
        'python3-gone': {'ubuntu': {'noble': None, '*': ['python3-gone']}},
        'python3-pipped': {'ubuntu': {'pip': {'packages': ['pipped']}}}}))
    keys = {'rclpy', 'sensor_msgs', 'unreleased_pkg', 'libfoo', 'bar', 'python3-numpy', 'python3-gone',
            'python3-pipped', 'ament_python'}
    resolved, unresolved = rosdep_keys.resolve(keys, tmp_path)
    assert resolved == {
        'libfoo': {'source': 'rosdep/base.yaml', 'noble': ['libfoo2']},
        'python3-numpy': {'source': 'rosdep/python.yaml', 'noble': ['python3-numpy']},
        'python3-pipped': {'source': 'rosdep/python.yaml', 'noble': {'pip': {'packages': ['pipped']}}},
        'rclpy': {'source': 'jazzy/distribution.yaml', 'noble': ['ros-jazzy-rclpy']},
        'sensor_msgs': {'source': 'jazzy/distribution.yaml', 'noble': ['ros-jazzy-sensor-msgs']},
    }
    assert unresolved == ['ament_python', 'bar', 'python3-gone', 'unreleased_pkg']
