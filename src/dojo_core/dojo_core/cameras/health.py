"""Health of a capture stream: its state, achieved rate, and dropped, late and failed frames.

Kept apart from the capture thread so the bookkeeping can be checked with synthetic timestamps
(late frames are a matter of intervals, not of how fast a test machine is).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

from dojo_core.metrics import RateMeter

#: A frame is late when it arrives more than this many frame periods after the previous one.
LATE_FACTOR = 1.5


class CaptureState(str, Enum):
    OPENING = 'opening'             # the first attempt to open the source has not finished
    STREAMING = 'streaming'         # the source is open and frames are being read
    RECONNECTING = 'reconnecting'   # the source is missing or failed; re-opening with backoff
    ENDED = 'ended'                 # a video file reached its end and loop is false
    STOPPED = 'stopped'             # stop() was called


@dataclass(frozen=True)
class CaptureStats:
    """A consistent snapshot of a capture's health (counts since start)."""

    state: CaptureState
    fps: float            # frames captured per second over the last window (0 once frames stop)
    frames: int           # frames captured
    dropped: int          # captured, then replaced by a newer frame before the consumer took them
    late: int             # captured more than LATE_FACTOR periods after the previous frame
    read_failures: int    # reads that returned no frame (end of a looping file excluded)
    reopen_attempts: int  # attempts to open the source after the first one
    source: str           # what the source delivers, e.g. '1280x720 @ 30 fps'; '' until opened
    mismatch: str         # how the source differs from the configuration; '' when it does not
    last_error: str       # the latest open/read error; '' while streaming


class CaptureHealth:
    """Thread-safe counters written by the capture thread and read by whoever reports health."""

    def __init__(self, fps: float, window_s: float = 2.0) -> None:
        self._late_interval = LATE_FACTOR / fps
        self._lock = threading.Lock()
        self._rate = RateMeter(window_s)
        self._previous: float | None = None
        self._state = CaptureState.OPENING
        self._frames = self._dropped = self._late = self._read_failures = self._reopen_attempts = 0
        self._source = self._mismatch = self._error = ''

    def frame(self, t: float) -> None:
        """Count a frame captured at monotonic time ``t`` (seconds)."""
        with self._lock:
            if self._previous is not None and t - self._previous > self._late_interval:
                self._late += 1
            self._previous = t
            self._frames += 1
            self._rate.tick(t)

    def restart(self) -> None:
        """The source was (re)opened or rewound: the next frame has no predecessor to be late after."""
        with self._lock:
            self._previous = None

    def dropped(self) -> None:
        with self._lock:
            self._dropped += 1

    def read_failure(self) -> None:
        with self._lock:
            self._read_failures += 1

    def reopen_attempt(self) -> None:
        with self._lock:
            self._reopen_attempts += 1

    def set_state(self, state: CaptureState, error: str = '') -> None:
        with self._lock:
            self._state, self._error = state, error

    def set_source(self, source: str, mismatch: str) -> None:
        with self._lock:
            self._source, self._mismatch = source, mismatch

    def snapshot(self, now: float) -> CaptureStats:
        """The counters, with the rate measured over the window that ends at monotonic time ``now``."""
        with self._lock:
            return CaptureStats(self._state, self._rate.rate(now), self._frames, self._dropped, self._late, self._read_failures,
                                self._reopen_attempts, self._source, self._mismatch, self._error)
