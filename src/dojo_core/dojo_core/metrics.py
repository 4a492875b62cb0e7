"""Measurement helpers shared by dojo_core (camera capture) and the nodes (through dojo_ros)."""
from __future__ import annotations

import threading
from collections import deque

import numpy as np


class RateMeter:
    """Event rate over a sliding window of caller-given timestamps (seconds).

    Timestamps come from the caller so the same meter measures sim time or wall time. The rate is
    (ticks - 1) / (newest - oldest) over the ticks within ``window_s`` of the newest tick, or of
    ``now`` when given to :meth:`rate`, so a stream that stops decays to 0 instead of reporting its
    last rate forever. A timestamp older than the newest one (a simulation reset) restarts the
    window.
    """

    def __init__(self, window_s: float = 5.0) -> None:
        if window_s <= 0.0:
            raise ValueError(f'window_s must be positive, got {window_s}')
        self._window_s = window_s
        self._ticks: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, t: float) -> None:
        """Record an event at time ``t``."""
        with self._lock:
            if self._ticks and t < self._ticks[-1]:
                self._ticks.clear()
            self._ticks.append(t)
            self._drop_before(t - self._window_s)

    def rate(self, now: float | None = None) -> float:
        """Return the rate in Hz; 0.0 with fewer than 2 ticks in the window."""
        with self._lock:
            if now is not None:
                self._drop_before(now - self._window_s)
            if len(self._ticks) < 2:
                return 0.0
            span = self._ticks[-1] - self._ticks[0]
            return (len(self._ticks) - 1) / span if span > 0.0 else 0.0

    def _drop_before(self, t: float) -> None:
        while self._ticks and self._ticks[0] < t:
            self._ticks.popleft()


class Timings:
    """The last value and the p50/p99 of a recent window of durations (any unit), for /diagnostics.

    A window, not all values since start: a node that has run for hours should report how it
    does now, and its memory must not grow."""

    def __init__(self, window: int) -> None:
        self._values: deque[float] = deque(maxlen=window)

    def add(self, value: float) -> None:
        self._values.append(value)

    def __len__(self) -> int:
        return len(self._values)

    def percentiles(self) -> tuple[float, float] | None:
        """(p50, p99) of the window, None while it is empty."""
        if not self._values:
            return None
        p50, p99 = np.percentile(np.asarray(self._values), [50, 99])
        return float(p50), float(p99)

    def figures(self, prefix: str) -> dict[str, float]:
        """{prefix.last, prefix.p50, prefix.p99}; empty while the window is."""
        if not self._values:
            return {}
        p50, p99 = self.percentiles()
        return {f'{prefix}.last': self._values[-1], f'{prefix}.p50': p50, f'{prefix}.p99': p99}


class EventCounter:
    """Thread-safe named counters, e.g. rejected commands by reason or dropped frames by cause."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def increment(self, key: str, n: int = 1) -> None:
        """Add ``n`` (>= 0; counters only grow) to counter ``key``."""
        if n < 0:
            raise ValueError(f'counters only grow; got n={n} for {key!r}')
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def snapshot(self) -> dict[str, int]:
        """Return a copy of all counters, safe to publish while others keep counting."""
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        """Return the sum of all counters."""
        with self._lock:
            return sum(self._counts.values())
