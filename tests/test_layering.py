"""The package layering (.importlinter) holds, and its contracts break when a wrong import appears.

`make lint` runs the same check; this test keeps it in every pytest run (and `colcon test`). The
other tests copy the workspace's Python packages, add an import that one contract forbids and
expect that contract to be reported broken, so a contract that can no longer fail (a typo in a
module name, a layer that matches nothing) is caught too.
"""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
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


def test_the_workspace_keeps_every_contract():
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'{len(contracts())} kept, 0 broken' in result.stdout


@pytest.fixture(scope='module')
def workspace_copy(tmp_path_factory) -> Path:
    """The workspace's Python packages, copied; the copies shadow the editable installs on PYTHONPATH
    (path entries come before the editable installs' import finders)."""
    root = tmp_path_factory.mktemp('packages')
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    for package in parser['importlinter']['root_packages'].split():
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
