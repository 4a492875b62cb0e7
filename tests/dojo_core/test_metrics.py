"""dojo_core.metrics.Timings: the recent-window percentiles nodes put on /diagnostics."""
from __future__ import annotations

import pytest

from dojo_core.metrics import Timings


def test_empty_window_reports_nothing():
    timings = Timings(window=10)
    assert len(timings) == 0 and timings.percentiles() is None and timings.figures('solve_ms') == {}


def test_percentiles_cover_only_the_recent_window():
    timings = Timings(window=100)
    for value in [1000.0] * 50 + [float(v) for v in range(1, 101)]:   # the old outliers slide out
        timings.add(value)
    p50, p99 = timings.percentiles()
    assert len(timings) == 100
    assert p50 == pytest.approx(50.5) and p99 == pytest.approx(99.01)
    assert timings.figures('plan_ms') == {'plan_ms.last': 100.0, 'plan_ms.p50': p50, 'plan_ms.p99': p99}
