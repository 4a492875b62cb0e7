"""Which message stamps a node may order by: the one admission rule of every stamp-ordered stream.

The recorder and `dojo convert` (through FrameAssembler), sim_node (joint commands) and the policy
node (observation ages) order messages by their header stamps. One bad stamp must not poison a
stream: a message stamped an hour ahead, once taken as the newest, makes every later real message
look out of order, and a recorder whose newest stamp lies in the future walks every tick up to it.
So a stamp is judged when it arrives, against the node's clock and the stream's history
(`StampGuard`), and the clock itself is watched (`ClockWatch`):

* ``future``: more than `future_tolerance_ns` ahead of the clock. The default (1 s) leaves room
  for clock skew between hosts and for a node whose /clock lags the simulator by a few periods.
* ``before_reset``: before the floor set by `StampGuard.reset` (the last sim reset, ...).
* ``out_of_order``: before the newest stamp admitted. An equal stamp is admitted; whether it
  supersedes the previous message is the caller's rule.
* The clock jumping back (a restarted simulation under use_sim_time) is not a bad message but a
  new timeline: every stamp admitted so far is from the old one. `ClockWatch.jumped_back` says
  so once; the caller ends what depended on the old timeline (the recorder ends the episode, a
  policy drops its observations) and calls `StampGuard.reset`.

Stamps are integer nanoseconds on the node's clock (ROS time, or sim time under use_sim_time).
"""
from __future__ import annotations

from dataclasses import dataclass

from dojo_core.sync.errors import ExtractionError

_NS = 1_000_000_000
#: How far ahead of the node clock a stamp may be (s) before it is refused as 'future'.
DEFAULT_FUTURE_TOLERANCE_S = 1.0
#: How far the clock may step back (s) before it counts as a jump to a new timeline.
DEFAULT_CLOCK_JUMP_S = 0.1


class StampError(ExtractionError):
    """A stamp a stream refuses; `reason` is 'future', 'before_reset' or 'out_of_order'."""


@dataclass
class StampGuard:
    """Admission of the stamps of one stream (see the module docstring).

    ``future_tolerance_ns``: how far ahead of the clock a stamp may be. `floor_ns`: stamps before
    it are refused (None: no floor); `last_ns`: the newest stamp admitted (None: none yet).
    Usage: ``guard.admit(stamp_ns, now_ns)`` raises StampError or records the stamp;
    ``guard.check`` only judges. Not thread-safe: callers hold the lock of what the stream feeds.
    """

    future_tolerance_ns: int = round(DEFAULT_FUTURE_TOLERANCE_S * _NS)
    floor_ns: int | None = None
    last_ns: int | None = None

    def __post_init__(self) -> None:
        if self.future_tolerance_ns < 0:
            raise ValueError(f'future_tolerance_ns must be >= 0, got {self.future_tolerance_ns}')

    @classmethod
    def from_seconds(cls, future_tolerance_s: float) -> StampGuard:
        return cls(future_tolerance_ns=round(future_tolerance_s * _NS))

    def check(self, stamp_ns: int, now_ns: int | None = None) -> None:
        """Raise StampError if ``stamp_ns`` may not be admitted; ``now_ns`` None skips the future
        test (no clock known, e.g. a message without a receive time offline)."""
        if now_ns is not None and stamp_ns > now_ns + self.future_tolerance_ns:
            raise StampError(f'stamp {_seconds(stamp_ns)} is {_seconds(stamp_ns - now_ns)} ahead of the clock '
                             f'({_seconds(now_ns)}; tolerance {_seconds(self.future_tolerance_ns)})', 'future')
        if self.floor_ns is not None and stamp_ns < self.floor_ns:
            raise StampError(f'stamp {_seconds(stamp_ns)} is before the last reset ({_seconds(self.floor_ns)})',
                             'before_reset')
        if self.last_ns is not None and stamp_ns < self.last_ns:
            raise StampError(f'stamp {_seconds(stamp_ns)} is before the newest one admitted '
                             f'({_seconds(self.last_ns)})', 'out_of_order')

    def admit(self, stamp_ns: int, now_ns: int | None = None) -> None:
        """`check`, then make ``stamp_ns`` the newest admitted stamp."""
        self.check(stamp_ns, now_ns)
        self.last_ns = stamp_ns

    def reset(self, floor_ns: int | None = None) -> None:
        """Start over: refuse stamps before ``floor_ns`` from now on and forget the newest stamp."""
        self.floor_ns = floor_ns
        self.last_ns = None


@dataclass
class ClockWatch:
    """Notices a node clock that steps back by more than ``tolerance_ns`` (a new timeline)."""

    tolerance_ns: int = round(DEFAULT_CLOCK_JUMP_S * _NS)
    last_ns: int | None = None

    def jumped_back(self, now_ns: int) -> int | None:
        """Record a reading; returns the newest reading before it if the clock jumped back, else None.

        A jump is reported once: the new reading becomes the reference.
        """
        before = self.last_ns
        if before is not None and now_ns >= before - self.tolerance_ns:
            self.last_ns = max(before, now_ns)
            return None
        self.last_ns = now_ns
        return before


def _seconds(ns: int) -> str:
    return f'{ns / _NS:.3f} s'
