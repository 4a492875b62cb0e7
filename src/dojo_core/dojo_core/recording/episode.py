"""One episode: ROS messages in, rows for DatasetWriter.add_frame out, and what came of it.

`EpisodeRecorder` is the one place where the recorder node and the bag converter turn messages
into dataset rows (through dojo_core.sync.FrameAssembler), so both make the same frames from the
same messages. Two rules a dataset needs on top of the assembler:

* Held messages: a feature with ``max_age: .inf`` (a position command) holds its last value
  until the next message, and a robot driver may send a command only when it changes (ros2_control's
  topic-based system does). So the last valid message of such a topic from *before* the episode
  started is carried into it (`HeldMessages`); otherwise an episode could not begin until the
  operator moved.
* A LeRobot row has no nulls: a frame where an optional feature is absent is not written, and is
  counted as skipped ('absent:<feature>') next to the assembler's dropped ticks.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dojo_core.sync import ExtractionError, FeatureMap, FrameAssembler, SyncReport

#: (topic, message, receive_ns): a message as the recorder or the converter hands it on.
Message = tuple[str, Any, int | None]


class HeldMessages:
    """The last valid message of every topic whose features all hold forever (max_age .inf)."""

    def __init__(self, features: FeatureMap) -> None:
        self._specs = {topic: features.specs_for(topic) for topic in features.topics()
                       if all(math.isinf(spec.max_age) for spec in features.specs_for(topic))}
        self._latest: dict[str, tuple[Message, int]] = {}   # topic -> (message, its latest stamp)

    def offer(self, topic: str, msg: Any, receive_ns: int | None = None) -> None:
        """Keep ``msg`` if its topic holds and every feature can read it (a bad command is not held)."""
        specs = self._specs.get(topic)
        if specs is None:
            return
        try:
            stamp = max(spec.stamp_ns(msg, receive_ns) for spec in specs)
            for spec in specs:
                spec.extract(msg)
        except ExtractionError:
            return
        self._latest[topic] = ((topic, msg, receive_ns), stamp)

    def messages(self, not_after_ns: int | None = None) -> list[Message]:
        """The held messages; with ``not_after_ns``, those stamped later are left out: they belong
        to a timeline the clock has jumped back from (a restarted simulation)."""
        return [message for message, stamp in self._latest.values() if not_after_ns is None or stamp <= not_after_ns]


@dataclass(frozen=True)
class EpisodeResult:
    """What became of one episode, for the stop_episode reply, the log and /diagnostics.

    index: the dataset episode index (of the saved episode, or the one it would have had);
    frames: rows saved (or discarded); skipped: assembled frames not written, by reason (each
    frame once per reason); dropped = the assembler's dropped ticks + skipped frames, so
    frames + dropped = ticks; rate_hz: frames per second of covered timeline (fps if nothing dropped).
    """

    index: int
    saved: bool
    frames: int
    task: str
    sync: SyncReport
    skipped: dict[str, int]
    skipped_frames: int
    save_s: float = 0.0
    error: str | None = None

    @property
    def dropped(self) -> int:
        return self.sync.dropped + self.skipped_frames

    @property
    def dropped_by_reason(self) -> dict[str, int]:
        return dict(Counter(self.sync.dropped_by_reason) + Counter(self.skipped))

    @property
    def rejected(self) -> dict[str, int]:
        """Messages refused during the episode, by reason, over all features."""
        total: Counter[str] = Counter()
        for stream in self.sync.streams.values():
            total.update(stream.rejected)
        return dict(total)

    @property
    def late(self) -> int:
        """Messages that arrived after their tick was assembled (live only; a bag conversion could differ)."""
        return sum(stream.late for stream in self.sync.streams.values())

    @property
    def duration_s(self) -> float:
        return self.sync.duration_s

    @property
    def rate_hz(self) -> float:
        return self.frames / self.duration_s if self.sync.ticks else 0.0

    def message(self) -> str:
        """One line for the service reply and the log."""
        if self.error is not None:
            text = f'episode {self.index} NOT saved ({self.error}): {self.frames} frames'
        else:
            text = f'episode {self.index} {"saved" if self.saved else "discarded"}: {self.frames} frames'
        text += (f', {self.duration_s:.2f} s at {self.rate_hz:.2f} Hz real ({self.sync.fps} fps), '
                 f'{self.dropped} dropped')
        if self.dropped:
            text += ' (' + ', '.join(f'{k} {v}' for k, v in sorted(self.dropped_by_reason.items())) + ')'
        rejected = self.rejected
        if rejected:
            text += ', rejected ' + ', '.join(f'{k} {v}' for k, v in sorted(rejected.items()))
        if self.late:
            text += f', {self.late} late messages'
        if self.saved:
            text += f', save {self.save_s:.2f} s'
        return text


class EpisodeRecorder:
    """Messages of one episode in (each topic in stamp order), dataset rows out.

    ``held``: messages from before the start to carry in (see `HeldMessages`). Call `poll` after
    messages (offline) or from a timer with the clock (live), then `finish` once; see
    FrameAssembler for the exact semantics, which this class does not change.

    Stopping: a stop at time T (a stop_episode call, a stop marker in a bag) ends the episode at
    T, but messages stamped before T may still be on their way. `stop_at(T)` makes the episode
    ignore what is stamped after T; the caller finishes it once `latency` has passed (live) or
    once the bag's log time passed T + latency (offline), so both see the same messages.
    """

    def __init__(self, features: FeatureMap, task: str, held: Iterable[Message] = ()) -> None:
        if not isinstance(task, str) or not task.strip():
            raise ValueError(f'an episode needs a task description, got {task!r}')
        self.features = features
        self.task = task
        self._assembler = FrameAssembler(features)
        self._skipped: Counter[str] = Counter()
        self._skipped_frames = 0
        self._frames = 0
        self._ticks = 0
        self.stop_ns: int | None = None
        for topic, msg, receive_ns in held:
            self.push(topic, msg, receive_ns)

    def push(self, topic: str, msg: Any, receive_ns: int | None = None) -> list[ExtractionError]:
        """Offer a message; returns the refusals (counted in the report by feature and reason)."""
        if self.stop_ns is not None and self._after_stop(topic, msg, receive_ns):
            return []
        return self._assembler.push(topic, msg, receive_ns)

    def stop_at(self, stop_ns: int) -> None:
        """From now on, ignore messages stamped after ``stop_ns`` (the earliest stop wins)."""
        self.stop_ns = stop_ns if self.stop_ns is None else min(self.stop_ns, stop_ns)

    def _after_stop(self, topic: str, msg: Any, receive_ns: int | None) -> bool:
        try:
            return all(spec.stamp_ns(msg, receive_ns) > self.stop_ns for spec in self.features.specs_for(topic))
        except ExtractionError:   # unstamped: let the assembler refuse and count it
            return False

    def poll(self, now_ns: int | None = None) -> list[dict[str, np.ndarray]]:
        """Rows of every tick that can be assembled now (live: pass the clock; offline: nothing)."""
        return self._rows(self._assembler.poll(now_ns))

    def finish(self, end_ns: int | None = None) -> list[dict[str, np.ndarray]]:
        """The remaining rows, up to ``end_ns`` (default: the newest required message) but never past
        a requested stop; the episode takes no more messages afterwards."""
        if self.stop_ns is not None:
            end = self._assembler.newest_required_ns() if end_ns is None else end_ns
            end_ns = self.stop_ns if end is None else min(end, self.stop_ns)
        return self._rows(self._assembler.finish(end_ns))

    def skip(self, reason: str) -> None:
        """Count a row that was assembled but could not be written (e.g. the writer fell behind)."""
        self._frames -= 1
        self._skipped[reason] += 1
        self._skipped_frames += 1

    def _rows(self, frames) -> list[dict[str, np.ndarray]]:
        rows = []
        for frame in frames:
            self._ticks = frame.tick + 1
            absent = [name for name, value in frame.values.items() if value is None]
            if absent:
                self._skipped.update(f'absent:{name}' for name in absent)
                self._skipped_frames += 1
                continue
            rows.append(dict(frame.values))
        self._frames += len(rows)
        return rows

    @property
    def frames(self) -> int:
        """Rows handed out so far, less those skipped afterwards."""
        return self._frames

    @property
    def duration_s(self) -> float:
        """Timeline covered so far (ticks up to the last assembled frame; cheap, unlike `report`)."""
        return self._ticks / self.features.fps

    def report(self) -> SyncReport:
        return self._assembler.report()

    def result(self, index: int, *, saved: bool, frames: int, save_s: float = 0.0,
               error: str | None = None) -> EpisodeResult:
        return EpisodeResult(index=index, saved=saved, frames=frames, task=self.task, sync=self.report(),
                             skipped=dict(self._skipped), skipped_frames=self._skipped_frames, save_s=save_s,
                             error=error)
