"""The rosdep keys of the dojo packages and what they install on ROS 2 Jazzy / Ubuntu 24.04 (noble).

`rosdep install -i --from-paths src -y` stops at the first key it cannot resolve, so every
dependency of every src/*/package.xml must be a rosdep key of the target platform: a ROS package
released into the distribution (jazzy/distribution.yaml) or a system key (rosdep/base.yaml,
rosdep/python.yaml). Build types (ament_python) are no keys, nor are many Python libraries
(pyarrow, av, torch, ...): those go through pip (requirements.txt). tests/test_install.py checks
the package.xml files offline against the list this script writes from a ros/rosdistro checkout;
after adding a dependency, write it again:

    git clone --depth 1 https://github.com/ros/rosdistro /tmp/rosdistro
    .venv/bin/python tools/rosdep_keys.py /tmp/rosdistro > tests/data/rosdep_keys.yaml
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml
from catkin_pkg.package import parse_package

REPO = Path(__file__).resolve().parents[1]
ROS_DISTRO, OS_NAME, OS_CODENAME = 'jazzy', 'ubuntu', 'noble'
# What rosdep evaluates format-3 `condition` attributes with on a Jazzy install (its setup sets them).
CONDITION_CONTEXT = {'ROS_VERSION': '2', 'ROS_DISTRO': ROS_DISTRO, 'ROS_PYTHON_VERSION': '3'}
# Every dependency list rosdep installs by default (`<depend>` fills build, build_export and exec).
DEPENDENCY_FIELDS = ('build_depends', 'buildtool_depends', 'build_export_depends',
                     'buildtool_export_depends', 'exec_depends', 'test_depends', 'doc_depends')
RULE_FILES = ('rosdep/base.yaml', 'rosdep/python.yaml')
DISTRIBUTION_FILE = f'{ROS_DISTRO}/distribution.yaml'


def dependency_keys(package_xml: Path) -> set[str]:
    """The keys rosdep would resolve for one package.xml: dependencies whose condition holds."""
    package = parse_package(str(package_xml))
    package.evaluate_conditions(CONDITION_CONTEXT)
    return {dep.name for field in DEPENDENCY_FIELDS for dep in getattr(package, field)
            if dep.evaluated_condition is not False}


def workspace(src: Path) -> tuple[set[str], set[str]]:
    """(package names, dependency keys) of src/*/package.xml; `-i` skips keys naming a package."""
    paths = sorted(src.glob('*/package.xml'))
    names = {parse_package(str(p)).name for p in paths}
    return names, set().union(*map(dependency_keys, paths)) - names


def released_packages(distribution: dict) -> dict[str, str]:
    """{package: repository} of every package the distribution releases (a release version: debs)."""
    return {package: repo for repo, entry in distribution['repositories'].items()
            if 'version' in entry.get('release', {}) for package in entry['release'].get('packages', [repo])}


def system_rule(rule: dict) -> object:
    """A base/python.yaml rule for ubuntu noble: package list, installer mapping, or None if none."""
    for_os = rule.get(OS_NAME)
    if isinstance(for_os, dict) and ({OS_CODENAME, '*'} & for_os.keys()):
        for_os = for_os.get(OS_CODENAME, for_os.get('*'))
    return for_os or None


def resolve(keys: set[str], rosdistro: Path) -> tuple[dict[str, dict], list[str]]:
    """({key: {source, noble}}, unresolved keys) against a rosdistro checkout."""
    released = released_packages(yaml.safe_load((rosdistro / DISTRIBUTION_FILE).read_text()))
    rules = {name: yaml.safe_load((rosdistro / name).read_text()) for name in RULE_FILES}
    resolved, unresolved = {}, []
    for key in sorted(keys):
        if key in released:
            resolved[key] = {'source': DISTRIBUTION_FILE,
                             OS_CODENAME: [f"ros-{ROS_DISTRO}-{key.replace('_', '-')}"]}
            continue
        found = next(((name, system_rule(r[key])) for name, r in rules.items() if key in r), None)
        if found and found[1]:
            resolved[key] = {'source': found[0], OS_CODENAME: found[1]}
        else:
            unresolved.append(key)
    return resolved, unresolved


def snapshot(rosdistro: Path) -> dict[str, str]:
    log = subprocess.run(['git', '-C', str(rosdistro), 'log', '-1', '--format=%H %cs'],
                         capture_output=True, text=True, check=True).stdout.split()
    return {'repository': 'https://github.com/ros/rosdistro', 'commit': log[0], 'date': log[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('rosdistro', type=Path, help='a git checkout of github.com/ros/rosdistro')
    args = parser.parse_args(argv)
    _, keys = workspace(REPO / 'src')
    resolved, unresolved = resolve(keys, args.rosdistro)
    print(f'# Written by tools/rosdep_keys.py from the rosdistro snapshot below: the rosdep keys of\n'
          f'# src/*/package.xml and what rosdep installs for them on ROS 2 {ROS_DISTRO}, '
          f'{OS_NAME} {OS_CODENAME}.')
    print(yaml.safe_dump({'rosdistro': snapshot(args.rosdistro),
                          'platform': {'ros_distro': ROS_DISTRO, 'os': OS_NAME, 'codename': OS_CODENAME},
                          'keys': resolved}, sort_keys=False, default_flow_style=None, width=120), end='')
    for key in unresolved:
        print(f'no rosdep key {key!r} for {ROS_DISTRO} on {OS_NAME} {OS_CODENAME}', file=sys.stderr)
    return 1 if unresolved else 0


if __name__ == '__main__':
    sys.exit(main())
