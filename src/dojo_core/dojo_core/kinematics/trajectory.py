"""Joint-space motion through waypoints with minimum-jerk timing.

Minimum-jerk segments start and end at rest (zero velocity and acceleration), so a servo or a
position-controlled sim follows them without overshoot; the peak velocity of a segment is
1.875 * distance / duration, which `MinJerkPath.peak_velocity` reports for limit checks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def minimum_jerk(s: np.ndarray | float) -> np.ndarray | float:
    """The normalised minimum-jerk profile 10s^3 - 15s^4 + 6s^5 for s in [0, 1] (clipped outside)."""
    s = np.clip(s, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s * s)


@dataclass
class MinJerkPath:
    """Waypoints (N x dof) visited in order, each segment taking `segment_duration` seconds."""

    waypoints: np.ndarray
    segment_duration: float

    def __post_init__(self) -> None:
        self.waypoints = np.atleast_2d(np.asarray(self.waypoints, dtype=float))
        if len(self.waypoints) < 2:
            raise ValueError('a path needs at least two waypoints')
        if self.segment_duration <= 0:
            raise ValueError(f'segment_duration must be positive, got {self.segment_duration}')

    @property
    def duration(self) -> float:
        return self.segment_duration * (len(self.waypoints) - 1)

    @property
    def peak_velocity(self) -> np.ndarray:
        """Per-joint peak speed (rad/s) over the whole path."""
        return 1.875 * np.abs(np.diff(self.waypoints, axis=0)).max(axis=0) / self.segment_duration

    def sample(self, t: float) -> np.ndarray:
        """Position at time t (s) from the start; holds the last waypoint after the end."""
        if t >= self.duration:
            return self.waypoints[-1].copy()
        index = int(max(t, 0.0) // self.segment_duration)
        s = (max(t, 0.0) - index * self.segment_duration) / self.segment_duration
        a, b = self.waypoints[index], self.waypoints[index + 1]
        return a + (b - a) * minimum_jerk(s)
