"""The package layering (.importlinter) holds, and its contracts break when a wrong import appears;
dojo_core reads share files only of packages it declares (dojo_description).

`make lint` runs the same check; these tests keep it in every pytest run (and `colcon test`), require
every dojo_core module to sit in a layer, and copy the workspace's Python packages to add, per
contract, an import it forbids and expect that contract to be reported broken, so a contract that
can no longer fail (a typo in a module name, a layer that matches nothing) is caught too.
"""
from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / '.importlinter'
LINT_IMPORTS = Path(sys.executable).parent / 'lint-imports'

#: one import that each contract forbids: module to add -> what it imports
PROBES = {
    'core-is-ros-free': ('dojo_core/_probe.py', 'import rclpy'),
    'policy-server-stands-alone': ('dojo_policy/_probe.py', 'import dojo_eval'),
    'packages': ('dojo_ros/_probe.py', 'import dojo_recorder'),
    'core-layers': ('dojo_core/dataset/_probe.py', 'import dojo_core.policies'),
}


def lint(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), '--no-cache', '--no-logo', str(CONFIG), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def contracts() -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return {s.split(':')[-1]: parser[s]['name'] for s in parser.sections() if s.startswith('importlinter:contract:')}


def contracts_root_packages() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return set(parser['importlinter']['root_packages'].split())


def test_the_workspace_keeps_every_contract():
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'{len(contracts())} kept, 0 broken' in result.stdout


def test_every_dojo_core_module_has_a_layer():
    """Modules outside the layers contract could import anything (and close a cycle) unnoticed."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    layered = {name.strip() for line in parser['importlinter:contract:core-layers']['layers'].split('\n')
               for name in line.split('|') if name.strip()}
    modules = {p.stem if p.suffix == '.py' else p.name for p in (REPO / 'src' / 'dojo_core' / 'dojo_core').iterdir()
               if (p.suffix == '.py' or (p / '__init__.py').is_file()) and p.name != '__init__.py'}
    assert modules - layered == set(), 'give these dojo_core modules a layer in .importlinter'
    assert layered - modules == set(), 'these layers name no dojo_core module'


@pytest.fixture(scope='module')
def workspace_copy(tmp_path_factory) -> Path:
    """The workspace's Python packages, copied; the copies shadow the editable installs on PYTHONPATH
    (path entries come before the editable installs' import finders)."""
    root = tmp_path_factory.mktemp('packages')
    for package in sorted(contracts_root_packages()):
        shutil.copytree(REPO / 'src' / package / package, root / package, ignore=shutil.ignore_patterns('__pycache__'))
    return root


def test_every_contract_has_a_probe():
    assert set(PROBES) == set(contracts()), 'give each contract in .importlinter a probe here'


@pytest.mark.parametrize('contract', sorted(PROBES))
def test_a_contract_breaks_on_the_import_it_forbids(workspace_copy, contract):
    path, statement = PROBES[contract]
    probe = workspace_copy / path
    probe.write_text(statement + '\n')
    try:
        result = lint('--contract', contract, env={**os.environ, 'PYTHONPATH': str(workspace_copy)},
                      cwd=workspace_copy)
    finally:
        probe.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    name = contracts()[contract]
    assert f'{name} BROKEN' in ' '.join(result.stdout.split()), result.stdout
    assert statement.split()[-1] in result.stdout  # the report names the forbidden import


def _exec_depends(package: str) -> set[str]:
    root = ET.parse(REPO / 'src' / package / 'package.xml').getroot()
    return {e.text.strip() for tag in ('exec_depend', 'depend') for e in root.iter(tag) if e.text}


def test_dojo_core_reads_share_files_only_of_packages_it_declares():
    """Every share directory dojo_core reads by a fixed name (share_dir('pkg') or share_dir(CONSTANT))
    is an exec_depend of dojo_core, and that package depends on nothing of ours: no cycle (dojo_bringup,
    which depends on every node package, could not be one). Names from user input (package:// URLs)
    are the user's to install."""
    constants = {node.targets[0].id: node.value.value
                 for path in (REPO / 'src' / 'dojo_core' / 'dojo_core').rglob('*.py')
                 for node in ast.parse(path.read_text()).body
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                 and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)}
    read = {}
    for path in (REPO / 'src' / 'dojo_core' / 'dojo_core').rglob('*.py'):
        for call in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(call, ast.Call) and getattr(call.func, 'id', getattr(call.func, 'attr', None)) == 'share_dir'
                    and call.args):
                continue
            arg = call.args[0]
            name = arg.value if isinstance(arg, ast.Constant) else constants.get(getattr(arg, 'id', None))
            if name is not None:
                read.setdefault(name, []).append(f'{path.relative_to(REPO)}:{call.lineno}')
    assert read, 'dojo_core reads no share files by name: update this test'
    depends = _exec_depends('dojo_core')
    undeclared = {name: where for name, where in read.items() if name not in depends}
    assert not undeclared, f'dojo_core reads the share directory of packages it does not declare: {undeclared}'
    packages = contracts_root_packages() | {'dojo_bringup'}
    for name in read:
        assert not _exec_depends(name) & packages, f'{name} depends on workspace packages: a cycle with dojo_core'


def test_dojo_description_installs_what_dojo_core_reads():
    from dojo_core.robot.description import urdf_xacro_path
    from dojo_core.sync.feature_map import feature_map_path
    assert urdf_xacro_path().read_bytes() == (REPO / 'urdf' / 'so101.urdf.xacro').read_bytes()
    for source in (REPO / 'config' / 'features').glob('*.yaml'):
        assert feature_map_path(source.stem).read_bytes() == source.read_bytes(), source.name
