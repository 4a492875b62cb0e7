"""The latest value of every observed feature, and whether it is fresh enough to act on.

Messages go through the feature map's FeatureSpec (stamp_ns + extract), exactly as the recorder
turned them into dataset values, so a policy sees live what it saw in training. Unlike the
recorder's FrameAssembler, nothing waits for late messages: a controller acts on the newest data
it has at the tick and refuses to act (holds) when any of it is older than `max_age`.

The newest arrival always replaces the stored value, even with an older stamp: a simulator reset
sends its clock and stamps back to zero, and refusing everything stamped before the old time
would blind the node until the new clock caught up. Age is measured both ways (|now - stamp|),
so data from the other side of such a jump is never used.

A message stamped further ahead of the node clock than `max_future_s` is refused and counted
('future_stamp:<feature>'): kept, it would replace the last good value with one that is never fresh
until the clock catches up, or (one stamp hours ahead) blind the node for that long.

The task text (a VLA's instruction) is one more input: from the feature map's task topic in ROS,
from the dataset's task in ROS-free runs.

Thread-safe: subscriptions push from executor threads while the control timer takes snapshots.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from dojo_core.sync import ExtractionError, FeatureSpec
from dojo_core.metrics import EventCounter


class ObservationBuffer:
    """Latest (stamp, value) per feature, filled from messages by topic."""

    def __init__(self, specs: Mapping[str, FeatureSpec], max_future_s: float = 0.5) -> None:
        self.specs = dict(specs)
        self.max_future_ns = round(max_future_s * 1e9)
        self.task: str = ''
        self._by_topic: dict[str, list[FeatureSpec]] = {}
        for spec in self.specs.values():
            self._by_topic.setdefault(spec.topic, []).append(spec)
        self.rejected = EventCounter()  # messages refused, by '<reason>:<feature>'
        self._lock = threading.Lock()
        self._latest: dict[str, tuple[int, np.ndarray]] = {}

    def topics(self) -> dict[str, str]:
        """{topic: message type name} to subscribe to."""
        return {topic: specs[0].type for topic, specs in self._by_topic.items()}

    def push(self, topic: str, msg: Any, receive_ns: int) -> list[ExtractionError]:
        """Take a message of `topic` for every feature read from it; returns (and counts) the refusals."""
        errors = []
        for spec in self._by_topic[topic]:
            try:
                stamp = spec.stamp_ns(msg, receive_ns)
                if stamp - receive_ns > self.max_future_ns:
                    raise ExtractionError(f'stamped {(stamp - receive_ns) * 1e-9:.3f} s ahead of the node clock (more '
                                          f'than {self.max_future_ns * 1e-9:g} s)', 'future_stamp')
                value = spec.extract(msg)
            except ExtractionError as exc:
                self.rejected.increment(f'{exc.reason}:{spec.name}')
                errors.append(exc)
                continue
            self.put(spec.name, stamp, value)
        return errors

    def put(self, name: str, stamp_ns: int, value: np.ndarray) -> None:
        """Store a feature's value directly (a ROS-free run reads the cell, not messages)."""
        with self._lock:
            self._latest[name] = (stamp_ns, value)

    def snapshot(self, now_ns: int, max_age_s: float) -> tuple[dict[str, np.ndarray] | None, str | None]:
        """(values, None) when every feature has data within `max_age_s` of `now_ns`, else
        (None, '<missing|stale>:<feature>') naming the first that does not."""
        max_age_ns = round(max_age_s * 1e9)
        with self._lock:
            latest = dict(self._latest)
        values = {}
        for name in self.specs:
            entry = latest.get(name)
            if entry is None:
                return None, f'missing:{name}'
            if abs(now_ns - entry[0]) > max_age_ns:
                return None, f'stale:{name}'
            values[name] = entry[1]
        return values, None

    def ages(self, now_ns: int) -> dict[str, float]:
        """Seconds since the stamp of each feature's latest value (features without one left out)."""
        with self._lock:
            return {name: (now_ns - stamp) * 1e-9 for name, (stamp, _) in self._latest.items()}
