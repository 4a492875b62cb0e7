"""Minimum-jerk joint paths: endpoints, rest at waypoints, peak speed as documented."""
from __future__ import annotations

import numpy as np
import pytest

from dojo_core.kinematics.trajectory import MinJerkPath, minimum_jerk


def test_profile_endpoints_and_symmetry():
    assert minimum_jerk(0.0) == 0.0 and minimum_jerk(1.0) == 1.0 and minimum_jerk(0.5) == pytest.approx(0.5)
    assert minimum_jerk(-1.0) == 0.0 and minimum_jerk(2.0) == 1.0


def test_path_visits_waypoints_at_rest_and_holds_the_last():
    waypoints = np.array([[0.0, 0.0], [1.0, -0.5], [0.2, 0.3]])
    path = MinJerkPath(waypoints, 2.0)
    assert path.duration == 4.0
    for i, t in enumerate((0.0, 2.0, 4.0)):
        np.testing.assert_allclose(path.sample(t), waypoints[i], atol=1e-12)
    dt = 1e-4
    for t in (dt, 2.0 + dt, 4.0 - dt):  # zero velocity at each waypoint
        assert np.abs(path.sample(t) - path.sample(t - dt)).max() / dt < 1e-3
    np.testing.assert_array_equal(path.sample(10.0), waypoints[-1])


def test_peak_velocity_matches_numerical_derivative():
    path = MinJerkPath(np.array([[0.0, 0.0], [1.0, -0.5], [0.2, 0.3]]), 2.0)
    t = np.linspace(0, path.duration, 4001)
    samples = np.array([path.sample(x) for x in t])
    numeric = np.abs(np.diff(samples, axis=0) / np.diff(t)[:, None]).max(axis=0)
    np.testing.assert_allclose(path.peak_velocity, numeric, rtol=1e-3)


def test_invalid_paths_are_refused():
    with pytest.raises(ValueError, match='two waypoints'):
        MinJerkPath(np.zeros((1, 6)), 1.0)
    with pytest.raises(ValueError, match='positive'):
        MinJerkPath(np.zeros((2, 6)), 0.0)
