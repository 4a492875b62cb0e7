"""The `tiny_test` policy type, installed as a fake distribution: a site folder holding
dojo_tiny_policy.py and dojo_tiny_policy-0.1.dist-info whose entry_points.txt registers it in the
`dojo.policies` group, exactly as a separately installed package would.

This folder is also put on sys.path for the plain helper modules its tests share (expert_data):
pytest's importlib import mode (pytest.ini) does not add test folders itself."""
from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from dojo_core.policies import ENTRY_POINT_GROUP

sys.path.insert(0, str(Path(__file__).parent))

TINY_TYPE = 'tiny_test'
MODULE = Path(__file__).with_name('dojo_tiny_policy.py')


@pytest.fixture(scope='session')
def tiny_policy_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp('site')
    shutil.copy(MODULE, site / MODULE.name)
    dist_info = site / 'dojo_tiny_policy-0.1.dist-info'
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text('Metadata-Version: 2.1\nName: dojo-tiny-policy\nVersion: 0.1\n')
    (dist_info / 'entry_points.txt').write_text(f'[{ENTRY_POINT_GROUP}]\n{TINY_TYPE} = {MODULE.stem}:TinyPolicy\n')
    return site


@pytest.fixture
def tiny_policy(tiny_policy_site, monkeypatch) -> str:
    """Make the fake distribution visible to this process and to its subprocesses; returns the type name."""
    monkeypatch.syspath_prepend(str(tiny_policy_site))
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join(filter(None, [str(tiny_policy_site),
                                                                   os.environ.get('PYTHONPATH')])))
    importlib.invalidate_caches()
    return TINY_TYPE
