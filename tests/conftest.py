"""Shared fixtures: every test that starts ROS gets its own DDS domain on localhost only.

Each test receives a fresh ROS_DOMAIN_ID (so tests never hear each other, even when a leftover
process from an earlier test is still shutting down) and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
(so no discovery traffic leaves the machine). Child processes inherit both through os.environ.
"""
from __future__ import annotations

import itertools
import os

import pytest

# Domain ids 1..101 are safe for FastDDS port arithmetic; start from the pid so that two pytest
# runs on one machine are unlikely to share a domain.
_domain_ids = itertools.count(os.getpid() % 50)


@pytest.fixture(autouse=True)
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> int:
    domain = 1 + next(_domain_ids) % 101
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    monkeypatch.setenv('MUJOCO_GL', os.environ.get('MUJOCO_GL', 'egl'))
    return domain
