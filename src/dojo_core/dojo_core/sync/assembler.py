"""Fixed-rate frame assembly: streams of stamped messages in, one frame per tick out.

A LeRobot dataset is a sequence of frames at `fps`; ROS delivers each topic at its own rate and
with its own delay. At every tick t = t0 + k/fps each feature takes the latest accepted message
stamped at or before t; a tick where a required feature has no such message, or only one older
than its `max_age`, is dropped and counted by reason, while optional features may be absent.

The same object serves live recording and bag conversion and gives identical frames for the same
messages, because a tick is assembled only once no message stamped at or before it can still
arrive:

* the watermark: every stream has accepted a message stamped at or after t (each stream's stamps
  must increase, so nothing earlier can follow), or
* the horizon: ``now - latency`` has passed t, where `now` is the caller's clock live and the
  newest stamp seen so far offline (bag messages come in log order, a little after their stamps),
* or :meth:`FrameAssembler.finish`, at the end of the data.

A message that still arrives stamped at or before an assembled tick is kept for later ticks but
counted `late`: it is the only way live and offline results can differ. A message stamped more
than the map's `future_tolerance` ahead of its receive time (the node clock live, the log time
offline) is refused as 'future' (dojo_core.sync.stamps): taken as the newest, it would make every
later message of its stream out of order and the ticks run up to it. Memory stays bounded:
each stream keeps the one message the next tick may need plus what arrived after it (about
`latency` worth) -- as long as :meth:`FrameAssembler.poll` is called regularly (each timer tick
live, after each message offline).

Not thread-safe: a node with a multi-threaded executor guards it with a lock.
"""
from __future__ import annotations

import math
from array import array
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dojo_core.sync.errors import ExtractionError
from dojo_core.sync.feature_map import FeatureMap
from dojo_core.sync.feature_spec import FeatureSpec
from dojo_core.sync.report import StreamReport, SyncReport
from dojo_core.sync.stamps import StampGuard

_NS = 1_000_000_000


@dataclass(frozen=True)
class Frame:
    """One assembled tick.

    index: 0-based frame number within the episode, contiguous (LeRobot's frame_index);
    tick: k of t0 + k/fps, which skips the dropped ticks; stamp_ns: the tick's time on the
    timeline; values: feature -> read-only array (shared with other frames that reuse the same
    message), or None for an absent optional feature.
    """

    index: int
    tick: int
    stamp_ns: int
    values: Mapping[str, np.ndarray | None]


class _Stream:
    """Accepted values of one feature, stamps strictly increasing, plus its statistics."""

    def __init__(self, spec: FeatureSpec, guard: StampGuard) -> None:
        self.spec = spec
        self.max_age_ns = spec.max_age if math.isinf(spec.max_age) else round(spec.max_age * _NS)
        self.entries: deque[tuple[int, np.ndarray]] = deque()
        self.first_ns: int | None = None
        self.guard = guard
        self.used_ns: int | None = None      # stamp of the message the previous frame used
        self.accepted = 0
        self.late = 0
        self.repeats = 0
        self.rejected: Counter[str] = Counter()
        self.absent: Counter[str] = Counter()
        self.ages = array('d')

    def latest_at(self, t: int) -> tuple[int, np.ndarray] | None:
        found = None
        for entry in self.entries:
            if entry[0] > t:
                break
            found = entry
        return found

    def prune(self, bound: int) -> None:
        """Forget what no tick at or after ``bound`` can use: all but the latest entry <= bound."""
        while len(self.entries) >= 2 and self.entries[1][0] <= bound:
            self.entries.popleft()

    @property
    def last_ns(self) -> int | None:
        """Stamp of the newest accepted message."""
        return self.guard.last_ns

    def report(self) -> StreamReport:
        span = (self.last_ns - self.first_ns) / _NS if self.accepted >= 2 else 0.0
        ages = np.frombuffer(self.ages, dtype=np.float64) if self.ages else None
        p50, p95 = np.percentile(ages, [50, 95]).tolist() if ages is not None else (None, None)
        return StreamReport(
            topic=self.spec.topic, required=self.spec.required, messages=self.accepted,
            rejected=dict(self.rejected), late=self.late, absent=dict(self.absent), repeats=self.repeats,
            buffered=len(self.entries), rate_hz=(self.accepted - 1) / span if span > 0 else None,
            age_p50_s=p50, age_p95_s=p95, age_max_s=float(ages.max()) if ages is not None else None,
        )


class FrameAssembler:
    """Turns the messages of one episode into frames at `features.fps`.

    ``start_ns``: time of the first tick; None starts at the first moment every required feature
    has a message (the latest of their first stamps), so an episode does not begin with drops.
    ``latency`` (s, default the map's): how long a live tick waits for late messages.
    """

    def __init__(self, features: FeatureMap, *, start_ns: int | None = None, latency: float | None = None) -> None:
        latency = features.latency if latency is None else latency
        if not 0 <= latency < math.inf:
            raise ValueError(f'latency must be a finite number of seconds >= 0, got {latency}')
        self.features = features
        self.latency_ns = round(latency * _NS)
        self._streams = {name: _Stream(spec, StampGuard.from_seconds(features.future_tolerance))
                         for name, spec in features.features.items()}
        self._by_topic: dict[str, list[_Stream]] = {}
        for stream in self._streams.values():
            self._by_topic.setdefault(stream.spec.topic, []).append(stream)
        self._required = [s for s in self._streams.values() if s.spec.required]
        self._t0 = start_ns
        self._next_tick = 0
        self._closed_ns: int | None = None   # time of the last assembled tick
        self._newest_ns: int | None = None   # newest accepted stamp of any stream
        self._ticks = self._frames = self._dropped = 0
        self._dropped_by_reason: Counter[str] = Counter()
        self._finished = False

    @property
    def start_ns(self) -> int | None:
        """Time of tick 0 (None until every required feature has had a message, without start_ns)."""
        return self._t0

    # -- input ------------------------------------------------------------------------------------
    def push(self, topic: str, msg: Any, receive_ns: int | None = None) -> list[ExtractionError]:
        """Offer a message of ``topic`` to every feature read from it.

        ``receive_ns`` is the arrival time on the same clock as the header stamps (node clock live,
        bag log time offline); features on the receive timeline need it. Returns the refusals (each
        already counted in the report by reason); an empty list means every feature took it.
        """
        self._check_open()
        try:
            streams = self._by_topic[topic]
        except KeyError:
            raise KeyError(f'no feature reads topic {topic!r}; mapped topics: {sorted(self._by_topic)}') from None
        errors = []
        for stream in streams:
            try:
                self._accept(stream, msg, receive_ns)
            except ExtractionError as exc:
                stream.rejected[exc.reason] += 1
                errors.append(exc)
        return errors

    def _accept(self, stream: _Stream, msg: Any, receive_ns: int | None) -> None:
        stamp = stream.spec.stamp_ns(msg, receive_ns)
        # A message stamped like the previous one supersedes it while that one is still buffered (a
        # command sent twice within one /clock period on sim time): the newest value wins.
        same_stamp = stream.last_ns == stamp and bool(stream.entries) and stream.entries[-1][0] == stamp
        try:
            stream.guard.check(stamp, receive_ns)
            if stamp == stream.last_ns and not same_stamp:
                raise ExtractionError('its stamp equals the previous one, which is used already', 'out_of_order')
        except ExtractionError as exc:
            raise ExtractionError(f'{stream.spec.name}: {exc}', exc.reason) from None
        value = stream.spec.extract(msg)   # after the stamp check: no image decode for a refused message
        if same_stamp:
            stream.entries[-1] = (stamp, value)
            stream.accepted += 1
            return
        if self._closed_ns is not None and stamp <= self._closed_ns:
            stream.late += 1
        stream.entries.append((stamp, value))
        stream.accepted += 1
        if stream.first_ns is None:
            stream.first_ns = stamp
        stream.guard.admit(stamp)
        self._newest_ns = stamp if self._newest_ns is None else max(self._newest_ns, stamp)

    # -- output -----------------------------------------------------------------------------------
    def poll(self, now_ns: int | None = None) -> list[Frame]:
        """Assemble every tick that no pending message can change any more.

        Live: pass the node clock (the clock of the stamps). Offline: pass nothing; the newest
        stamp seen stands in for the clock.
        """
        self._check_open()
        now = now_ns if now_ns is not None else self._newest_ns
        if now is None:
            return []
        limit = now - self.latency_ns
        lasts = [s.last_ns for s in self._streams.values()]
        if None not in lasts:
            limit = max(limit, min(lasts))
        return self._assemble_until(limit)

    def finish(self, end_ns: int | None = None) -> list[Frame]:
        """Assemble the remaining ticks up to ``end_ns`` and close the episode.

        Default end: the newest stamp among the required features. Live, call it once the last
        messages had `latency` to arrive (or pass the stop time as ``end_ns``).
        """
        self._check_open()
        if end_ns is None:
            end_ns = self.newest_required_ns()
        frames = self._assemble_until(end_ns) if end_ns is not None else []
        self._finished = True
        return frames

    def newest_required_ns(self) -> int | None:
        """The newest stamp among the required features (None before any), where `finish` ends by default."""
        lasts = [s.last_ns for s in self._required if s.last_ns is not None]
        return max(lasts) if lasts else None

    def _assemble_until(self, limit: int) -> list[Frame]:
        if self._t0 is None:
            firsts = [s.first_ns for s in self._required]
            if None in firsts:
                # Tick 0 is at least the first stamp of every required stream seen so far, and at
                # least `limit` (a first message still to come is stamped after it).
                bound = max([f for f in firsts if f is not None] + [limit])
                for stream in self._streams.values():
                    stream.prune(bound)
                return []
            self._t0 = max(firsts)
        frames = []
        while (t := self._tick_ns(self._next_tick)) <= limit:
            frame = self._assemble(self._next_tick, t)
            if frame is not None:
                frames.append(frame)
            self._closed_ns = t
            self._next_tick += 1
        bound = self._tick_ns(self._next_tick)
        for stream in self._streams.values():
            stream.prune(bound)
        return frames

    def _tick_ns(self, k: int) -> int:
        """t0 + k/fps rounded to the nanosecond, exactly (integers: no drift over long episodes)."""
        fps = self.features.fps
        return self._t0 + (2 * k * _NS + fps) // (2 * fps)

    def _assemble(self, k: int, t: int) -> Frame | None:
        self._ticks += 1
        chosen: dict[str, tuple[int, np.ndarray] | None] = {}
        problems: dict[str, str] = {}
        for name, stream in self._streams.items():
            entry = stream.latest_at(t)
            if entry is None:
                problems[name] = 'missing'
            else:
                age = t - entry[0]
                stream.ages.append(age / _NS)
                if age > stream.max_age_ns:
                    problems[name] = 'stale'
            chosen[name] = None if name in problems else entry
        reasons = [f'{problem}:{name}' for name, problem in problems.items() if self._streams[name].spec.required]
        if reasons:
            self._dropped += 1
            self._dropped_by_reason.update(reasons)
            return None
        values = {}
        for name, entry in chosen.items():
            stream = self._streams[name]
            if entry is None:
                stream.absent[problems[name]] += 1
                values[name] = None
                continue
            if entry[0] == stream.used_ns:
                stream.repeats += 1
            stream.used_ns = entry[0]
            values[name] = entry[1]
        frame = Frame(index=self._frames, tick=k, stamp_ns=t, values=values)
        self._frames += 1
        return frame

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError('this episode is finished; start a new FrameAssembler')

    # -- accounting -------------------------------------------------------------------------------
    def report(self) -> SyncReport:
        """The episode so far (cheap enough to call at the diagnostics rate)."""
        return SyncReport(
            fps=self.features.fps, timeline=self.features.timeline, latency_s=self.latency_ns / _NS,
            start_ns=self._t0, ticks=self._ticks, frames=self._frames, dropped=self._dropped,
            dropped_by_reason=dict(self._dropped_by_reason),
            streams={name: stream.report() for name, stream in self._streams.items()},
        )
