"""dojo_core.sync.stamps: the stamp admission rule nodes share (future, before reset, order, clock jumps)."""
from __future__ import annotations

import pytest

from dojo_core.sync import ClockWatch, ExtractionError, StampError, StampGuard

S = 1_000_000_000
NOW = 1_700_000_000 * S


def reason(guard: StampGuard, stamp_ns: int, now_ns: int | None = NOW) -> str | None:
    try:
        guard.admit(stamp_ns, now_ns)
    except StampError as exc:
        assert isinstance(exc, ExtractionError)   # nodes count it like any refused message
        return exc.reason
    return None


def test_a_future_stamp_is_refused_and_leaves_the_stream_as_it_was():
    guard = StampGuard.from_seconds(1.0)
    assert reason(guard, NOW - S) is None
    assert reason(guard, NOW + 3600 * S) == 'future'
    assert guard.last_ns == NOW - S                    # not taken as the newest
    assert reason(guard, NOW) is None                  # the next real message is fine
    assert reason(guard, NOW + S) is None              # within the tolerance
    assert reason(guard, NOW + 3600 * S, now_ns=None) is None   # no clock: nothing to judge by


def test_order_equal_stamps_and_reset_floor():
    guard = StampGuard()
    assert reason(guard, NOW) is None
    assert reason(guard, NOW - 1) == 'out_of_order'
    assert reason(guard, NOW) is None                  # equal: the caller decides whether it supersedes
    guard.reset(floor_ns=NOW + S // 2)
    assert guard.last_ns is None
    assert reason(guard, NOW + S // 4) == 'before_reset'
    assert reason(guard, NOW + S // 2) is None
    with pytest.raises(ValueError):
        StampGuard(future_tolerance_ns=-1)


def test_clock_watch_reports_a_jump_back_once():
    watch = ClockWatch(tolerance_ns=S // 10)
    assert watch.jumped_back(NOW) is None
    assert watch.jumped_back(NOW + S) is None
    assert watch.jumped_back(NOW + S - S // 20) is None   # a small step back is tolerated
    assert watch.jumped_back(5 * S) == NOW + S            # a restarted sim: the reading before the jump
    assert watch.jumped_back(6 * S) is None               # the new timeline is the reference now
