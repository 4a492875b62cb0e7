"""Installing dojo on a ROS 2 Jazzy machine (Ubuntu 24.04), checked offline.

`rosdep install -i --from-paths src -y` resolves every dependency key of every src/*/package.xml
(any package added later included); the keys must be those of tests/data/rosdep_keys.yaml, the
list tools/rosdep_keys.py derives from a ros/rosdistro snapshot (ROS packages released into Jazzy,
system keys of rosdep/base.yaml and rosdep/python.yaml with their noble packages).

The README's install commands and docker/Dockerfile's must work with an externally managed system
Python (PEP 668): pip only inside a venv that sees the system site-packages, torch pinned first,
colcon run by the venv's Python. The venv step itself runs here with the system python3.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
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


# --------------------------------------------------------------------------------------------
# The README's install sequence and the Dockerfile's
# --------------------------------------------------------------------------------------------

README = REPO / 'README.md'
DOCKERFILE = REPO / 'docker' / 'Dockerfile'
TORCH_PIN = re.search(r'^\s*\$\(PIP\) (torch==\S+)$', (REPO / 'Makefile').read_text(), re.M).group(1)


def split_commands(script: str) -> list[list[str]]:
    """Shell lines (comments dropped, `&&` chains split) as argument lists."""
    commands = []
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            end = words.index('&&') if '&&' in words else len(words)
            commands.append(words[:end])
            words = words[end + 1:]
    return [c for c in commands if c]


def readme_install_commands() -> list[list[str]]:
    section = README.read_text().split('\n## On a ROS 2 install\n', 1)[1].split('\n## ', 1)[0]
    return split_commands(re.search(r'```bash\n(.*?)```', section, re.S).group(1))


def dockerfile_commands() -> list[list[str]]:
    text = DOCKERFILE.read_text().replace('\\\n', ' ')
    return split_commands('\n'.join(m.group(1) for m in re.finditer(r'^RUN (.*)$', text, re.M)))


def install_problems(commands: list[list[str]]) -> list[str]:
    """Why the sequence fails, or drifts from the dev set-up, on Ubuntu 24.04 (empty if it does not)."""
    problems = []
    position = {}
    for i, words in enumerate(commands):
        position.setdefault(' '.join(words[:2]), i)
    rosdep = next((i for i, w in enumerate(commands) if w[:2] == ['rosdep', 'install']), None)
    if rosdep is None or not {'-i', '--from-paths', 'src'} <= set(commands[rosdep]):
        problems.append('no `rosdep install -i --from-paths src`')
    venvs = [(i, w[-1]) for i, w in enumerate(commands)
             if w[:3] == ['python3', '-m', 'venv'] and '--system-site-packages' in w]
    if not venvs:
        return problems + ['no `python3 -m venv --system-site-packages DIR`: pip has nowhere to install']
    venv_at, venv = venvs[0]
    python = f'{venv}/bin/python'
    pips = [(i, w) for i, w in enumerate(commands) if 'pip' in w and 'install' in w]
    for i, words in pips:
        if words[:4] != [python, '-m', 'pip', 'install'] or i < venv_at:
            problems.append(f'`{shlex.join(words)}`: not the pip of {venv} (the system pip refuses, PEP 668)')
        if '--break-system-packages' in words:
            problems.append(f'`{shlex.join(words)}`: --break-system-packages')
    installs = [w[w.index('install') + 1:] for _, w in pips]
    if not installs or TORCH_PIN not in installs[0] or '-r' in installs[0] \
            or any(TORCH_PIN in w for w in installs[1:]):
        problems.append(f'the first pip install must be {TORCH_PIN} alone (the Makefile pin)')
    if not any('-r requirements.txt' in ' '.join(w) for w in installs[1:]):
        problems.append('no `-r requirements.txt` after torch')
    colcon = [w for w in commands if 'colcon' in w and 'build' in w]
    if not colcon or colcon[0][:4] != [python, '-m', 'colcon', 'build'] or '--base-paths' not in colcon[0]:
        problems.append(f'colcon build must be `{python} -m colcon build ... --base-paths src` '
                        '(node scripts with the venv Python; the venv is not crawled)')
    if rosdep is not None and rosdep > venv_at:
        problems.append('rosdep install must come before the venv (its apt packages are what the venv sees)')
    return problems


def test_the_readme_install_sequence_works_on_an_externally_managed_python():
    problems = install_problems(readme_install_commands())
    assert not problems, '\n'.join(problems)


def test_the_dockerfile_installs_as_the_readme_does():
    problems = install_problems(dockerfile_commands())
    assert not problems, '\n'.join(problems)
    venv = next(w for w in readme_install_commands() if w[:3] == ['python3', '-m', 'venv'])
    assert venv in dockerfile_commands()


def test_the_install_checker_finds_what_fails():
    old = split_commands(textwrap.dedent("""\
        rosdep install -i --from-paths src -y
        pip install torch==2.13.0 -r requirements.txt   # no rosdep keys for these
        colcon build --symlink-install && source install/setup.bash
        """))
    assert install_problems(old) == ['no `python3 -m venv --system-site-packages DIR`: pip has nowhere to install']
    good = split_commands(textwrap.dedent(f"""\
        rosdep install -i --from-paths src -y
        python3 -m venv --system-site-packages v
        v/bin/python -m pip install {TORCH_PIN} --index-url https://download.pytorch.org/whl/cpu
        v/bin/python -m pip install -r requirements.txt
        v/bin/python -m colcon build --base-paths src
        """))
    assert install_problems(good) == []
    assert len(install_problems([c if c[0] != 'v/bin/python' or 'colcon' in c else ['pip', *c[3:]]
                                 for c in good])) == 2
    assert install_problems(good[:2] + good[3:4] + good[2:3] + good[4:]) == [
        f'the first pip install must be {TORCH_PIN} alone (the Makefile pin)', 'no `-r requirements.txt` after torch']
    assert 'colcon build' in install_problems(good[:4] + [['colcon', 'build', '--base-paths', 'src']])[0]
    assert '--break-system-packages' in install_problems(good[:3] + [good[3] + ['--break-system-packages']] + good[4:])[0]


@pytest.mark.slow
def test_the_readme_venv_sees_the_system_packages_and_installs_the_workspace(tmp_path: Path):
    """The README's venv command, run with this machine's system python3 (Debian/Ubuntu's, externally
    managed): its pip installs a workspace package, and the system site-packages stay importable."""
    system_python = shutil.which('python3', path=os.defpath)
    venv_command = next(w for w in readme_install_commands() if w[:3] == ['python3', '-m', 'venv'])
    venv = tmp_path / venv_command[-1]
    subprocess.run([system_python, *venv_command[1:-1], str(venv)], check=True, timeout=120)
    python = str(venv / 'bin' / 'python')
    system_sites = subprocess.run([system_python, '-c', 'import site; print(*site.getsitepackages(), sep="\\n")'],
                                  capture_output=True, text=True, check=True).stdout.split()
    venv_path = subprocess.run([python, '-c', 'import sys; print(*sys.path, sep="\\n")'],
                               capture_output=True, text=True, check=True).stdout.split()
    assert set(p for p in system_sites if Path(p).is_dir()) <= set(venv_path)
    result = subprocess.run([python, '-m', 'pip', 'install', '--dry-run', '--no-deps', '--no-index',
                             '--no-build-isolation', str(REPO / 'src' / 'dojo_ros')],
                            capture_output=True, text=True, timeout=120)
    assert 'Would install dojo-ros-0.1.0' in result.stdout, result.stdout + result.stderr
