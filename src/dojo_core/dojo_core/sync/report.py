"""What one episode's frame assembly achieved, for logs, /diagnostics and dataset metadata.

A dataset that claims 30 Hz while its camera really delivered 25 Hz, or whose frames silently
repeat stale images, is worse than a smaller honest one; the report says how many ticks became
frames, why the others were dropped, how old each stream's data was when it was used, and which
messages were refused and why.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamReport:
    """One feature's stream over an episode.

    messages: accepted messages; rejected: refused messages by reason (extraction errors,
    out_of_order, future, zero_stamp); late: accepted messages stamped at or before an already
    assembled tick (live only: they came after `latency`, so a bag replay could differ); absent: frames
    without this (optional) feature, by missing | stale; repeats: frames that reused the previous
    frame's message (a stream slower than fps); buffered: messages held right now (bounded by
    about `latency` worth); rate_hz: accepted messages per second of their own stamps; age_*: tick time minus the stamp of the message used, over every tick where the
    stream had a message (dropped ticks included, so a freeze shows in age_max_s).
    """

    topic: str
    required: bool
    messages: int
    rejected: dict[str, int]
    late: int
    absent: dict[str, int]
    repeats: int
    buffered: int
    rate_hz: float | None
    age_p50_s: float | None
    age_p95_s: float | None
    age_max_s: float | None


@dataclass(frozen=True)
class SyncReport:
    """Frame assembly of one episode at `fps` ticks per second.

    ticks = frames + dropped. A dropped tick is counted once in `dropped` and under every reason
    that applies in `dropped_by_reason` ('missing:<feature>' or 'stale:<feature>'), so the reasons
    may add up to more than `dropped`.
    """

    fps: int
    timeline: str
    latency_s: float
    start_ns: int | None
    ticks: int
    frames: int
    dropped: int
    dropped_by_reason: dict[str, int]
    streams: dict[str, StreamReport]

    @property
    def duration_s(self) -> float:
        """Timeline span the ticks covered."""
        return self.ticks / self.fps

    @property
    def rate_hz(self) -> float:
        """Frames per second of covered timeline: fps when no tick was dropped."""
        return self.frames / self.duration_s if self.ticks else 0.0

    def as_dict(self, flat: bool = False) -> dict[str, object]:
        """Plain values for JSON logs; ``flat`` gives one level of '/'-joined keys for /diagnostics.

        '/' cannot occur in a LeRobot feature name, so flat keys such as
        'observation.state/rejected/missing_joint' split back unambiguously.
        """
        nested = {**dataclasses.asdict(self), 'duration_s': self.duration_s, 'rate_hz': self.rate_hz}
        return _flatten(nested) if flat else nested


def _flatten(tree: dict[str, object], prefix: str = '') -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(_flatten(value, f'{name}/'))
        else:
            flat[name] = value
    return flat
