"""Shared fixtures: every test module that starts ROS gets its own DDS domain on localhost only.

Each test module receives a fresh ROS_DOMAIN_ID (so modules never hear each other, even when a
leftover process from an earlier module is still shutting down, while tests inside a module can
share one node process) and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (so no discovery traffic
leaves the machine). Child processes inherit both through os.environ.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

# MuJoCo reads MUJOCO_GL when first imported, which happens while test modules are collected.
os.environ.setdefault('MUJOCO_GL', 'egl')
# Camera-sized messages over shared memory (the default 512 KB segment drops most 640x480 frames
# for best-effort subscribers), UDP on loopback only; read when a DDS participant is created.
os.environ.setdefault('FASTRTPS_DEFAULT_PROFILES_FILE',
                      str(Path(__file__).resolve().parents[1] / 'config' / 'dds' / 'fastdds_local_large_data.xml'))

# Domain ids 1..101 are safe for FastDDS port arithmetic; start from the pid so that two pytest
# runs on one machine are unlikely to share a domain.
_domain_ids = itertools.count(os.getpid() % 101)


@pytest.fixture(scope='module', autouse=True)
def ros_domain() -> int:
    domain = 1 + next(_domain_ids) % 101
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('ROS_DOMAIN_ID', str(domain))
        mp.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
        yield domain


@pytest.fixture(scope='module')
def torch_one_thread():
    """Torch on one intra-op thread for modules with tiny models (`pytestmark = usefixtures(...)`):
    they gain nothing from more, and on a busy 2-core machine spinning threads make them several
    times slower."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
