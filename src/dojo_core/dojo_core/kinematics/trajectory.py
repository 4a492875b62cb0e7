"""Joint-space motion with minimum-jerk timing, and durations chosen so that limits hold.

Minimum-jerk segments start and end at rest (zero velocity and acceleration), so a servo or a
position-controlled sim follows them without overshoot; the peak velocity of a straight segment
is 1.875 * distance / duration and its peak acceleration 5.77 * distance / duration^2, which is
how `min_jerk_duration` picks the shortest duration within velocity and acceleration limits.

`Segment` generalises the straight segment to any path through joint space (e.g. the IK
solutions along a straight Cartesian line), and `JointPlan` chains segments into one motion that
can be sampled at any time, e.g. at the control rate.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

# Peaks of |ds/dt| and |d2s/dt2| of the minimum-jerk profile s(t) = minimum_jerk(t) over unit time.
MIN_JERK_PEAK_VELOCITY = 1.875
MIN_JERK_PEAK_ACCELERATION = 10.0 / math.sqrt(3.0)


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
        return MIN_JERK_PEAK_VELOCITY * np.abs(np.diff(self.waypoints, axis=0)).max(axis=0) / self.segment_duration

    def sample(self, t: float) -> np.ndarray:
        """Position at time t (s) from the start; holds the last waypoint after the end."""
        if t >= self.duration:
            return self.waypoints[-1].copy()
        index = int(max(t, 0.0) // self.segment_duration)
        s = (max(t, 0.0) - index * self.segment_duration) / self.segment_duration
        a, b = self.waypoints[index], self.waypoints[index + 1]
        return a + (b - a) * minimum_jerk(s)


def min_jerk_duration(distance: np.ndarray | float, max_velocity: np.ndarray | float,
                      max_acceleration: np.ndarray | float) -> float:
    """Shortest duration (s) of a minimum-jerk move over `distance` (per joint, or one Cartesian
    length) whose peak speed and acceleration stay within the given limits (same shape or scalar)."""
    d = np.abs(np.asarray(distance, dtype=float))
    v, a = _positive_limits(max_velocity, max_acceleration)
    return float(max(np.max(MIN_JERK_PEAK_VELOCITY * d / v), np.max(np.sqrt(MIN_JERK_PEAK_ACCELERATION * d / a))))


def _positive_limits(max_velocity, max_acceleration) -> tuple[np.ndarray, np.ndarray]:
    v, a = np.asarray(max_velocity, dtype=float), np.asarray(max_acceleration, dtype=float)
    if not (np.all(v > 0) and np.all(a > 0)):
        raise ValueError(f'limits must be positive, got velocity {max_velocity} and acceleration {max_acceleration}')
    return v, a


@dataclass
class Segment:
    """A path through joint space travelled with minimum-jerk timing in `duration` seconds: it
    starts and ends at rest. A segment whose knots are all equal is a pause.

    The path passes through `knots` (N x dof) at evenly spaced path parameter s in [0, 1]. Between
    knots it is a monotone cubic (PCHIP, Fritsch-Carlson tangents): smooth in velocity, so the
    acceleration stays bounded however finely the segment is sampled, and never overshooting the
    knots, so a path whose knots are within the joint limits stays within them. Two knots give a
    straight line.
    """

    knots: np.ndarray
    duration: float
    label: str = ''
    tangents: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.knots = np.atleast_2d(np.asarray(self.knots, dtype=float))
        if len(self.knots) < 2:
            raise ValueError('a segment needs at least two knots')
        if not np.all(np.isfinite(self.knots)):
            raise ValueError('segment knots must be finite')
        if not self.duration > 0:
            raise ValueError(f'duration must be positive, got {self.duration}')
        self.tangents = _monotone_tangents(self.knots)

    @classmethod
    def within_limits(cls, knots: np.ndarray, max_velocity: np.ndarray | float,
                      max_acceleration: np.ndarray | float, label: str = '', min_duration: float = 0.0) -> Segment:
        """The fastest segment through `knots` whose joint speeds and accelerations stay within
        the limits (per joint or scalar; the `peak_rates` bounds), and no shorter than `min_duration`."""
        v, a = _positive_limits(max_velocity, max_acceleration)
        segment = cls(knots, 1.0, label)
        velocity, acceleration = segment.peak_rates()  # at unit duration: they scale as 1/T and 1/T^2
        segment.duration = max(min_duration, float(np.max(velocity / v)), float(np.max(np.sqrt(acceleration / a))),
                               1e-3)
        return segment

    @property
    def start(self) -> np.ndarray:
        return self.knots[0].copy()

    @property
    def end(self) -> np.ndarray:
        return self.knots[-1].copy()

    def peak_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-joint bounds on |velocity| and |acceleration| over the segment (rad/s, rad/s^2).

        With q(s(t)): dq/dt = q'(s) s' and d2q/dt2 = q''(s) s'^2 + q'(s) s''. The peaks of |q'| and
        |q''| are exact for the cubic pieces; s' and s'' peak at the minimum-jerk constants (not at
        the same instant, so the acceleration bound is conservative).
        """
        n = len(self.knots) - 1
        a, b, c = _derivative_coefficients(self.knots, self.tangents)  # q'(u) = a u^2 + b u + c per piece
        vertex = np.clip(np.divide(-b, 2 * a, out=np.zeros_like(b), where=a != 0), 0.0, 1.0)
        slope = np.max([np.abs(c), np.abs(a + b + c), np.abs((a * vertex + b) * vertex + c)], axis=0)
        curvature = np.maximum(np.abs(b), np.abs(2 * a + b))  # q''(u) = 2 a u + b is linear
        slope, curvature = slope.max(axis=0) * n, curvature.max(axis=0) * n * n
        return (slope * MIN_JERK_PEAK_VELOCITY / self.duration,
                (slope * MIN_JERK_PEAK_ACCELERATION + curvature * MIN_JERK_PEAK_VELOCITY**2) / self.duration**2)

    def sample(self, t: float) -> np.ndarray:
        """Position at time t (s) from the segment start, held at the ends outside [0, duration]."""
        s = minimum_jerk(t / self.duration) * (len(self.knots) - 1)
        i = min(int(s), len(self.knots) - 2)
        u = s - i
        p0, p1, m0, m1 = self.knots[i], self.knots[i + 1], self.tangents[i], self.tangents[i + 1]
        return p0 + u * (m0 + u * (3 * (p1 - p0) - 2 * m0 - m1 + u * (2 * (p0 - p1) + m0 + m1)))


def _monotone_tangents(knots: np.ndarray) -> np.ndarray:
    """PCHIP tangents per unit knot index: the harmonic mean of the neighbouring slopes where they
    agree in sign, zero at a local extremum, the end slopes at the ends (Fritsch-Carlson)."""
    d = np.diff(knots, axis=0)
    tangents = np.empty_like(knots)
    tangents[0], tangents[-1] = d[0], d[-1]
    before, after = d[:-1], d[1:]
    same_sign = before * after > 0
    with np.errstate(divide='ignore', invalid='ignore'):
        tangents[1:-1] = np.where(same_sign, 2 * before * after / (before + after), 0.0)
    return tangents


def _derivative_coefficients(knots: np.ndarray, tangents: np.ndarray):
    """Coefficients (a, b, c) of the cubic pieces' derivative a u^2 + b u + c, u in [0, 1] per piece."""
    d = np.diff(knots, axis=0)
    m0, m1 = tangents[:-1], tangents[1:]
    return 3 * (m0 + m1) - 6 * d, 6 * d - 4 * m0 - 2 * m1, m0


@dataclass
class JointPlan:
    """Segments played one after the other; `sample(t)` gives the joint targets at any time t (s)
    from the start of the plan, holding the first position before it and the last after it."""

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        self.segments = tuple(self.segments)
        if not self.segments:
            raise ValueError('a plan needs at least one segment')
        for before, after in zip(self.segments, self.segments[1:]):
            if not np.allclose(before.end, after.start, atol=1e-9):
                raise ValueError(f'segment {after.label!r} does not start where {before.label!r} ends')
        self._ends = [float(end) for end in np.cumsum([s.duration for s in self.segments])]

    @property
    def duration(self) -> float:
        return self._ends[-1]

    def _index(self, t: float) -> int:
        return min(bisect.bisect_right(self._ends, t), len(self.segments) - 1)

    def sample(self, t: float) -> np.ndarray:
        i = self._index(t)
        return self.segments[i].sample(t - (self._ends[i] - self.segments[i].duration))

    def label(self, t: float) -> str:
        """Label of the segment playing at time t (the last one after the end)."""
        return self.segments[self._index(t)].label

    def start_time(self, label: str) -> float:
        """When the first segment labelled `label` starts (KeyError when there is none)."""
        for segment, end in zip(self.segments, self._ends):
            if segment.label == label:
                return end - segment.duration
        raise KeyError(f'the plan has no segment labelled {label!r}')
