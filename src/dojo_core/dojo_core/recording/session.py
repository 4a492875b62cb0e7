"""Record episodes into one dataset: messages from any thread in, the DatasetWriter on its own thread.

Threading. DatasetWriter must be used from one thread, and saving an episode takes a while (it
rewrites the current data and video files), so every writer call -- open, add_frame, save,
discard, close -- runs on one worker thread (a single-worker ThreadPoolExecutor), in the order it
was submitted. The caller's threads only touch the EpisodeRecorder, under a lock: `push` (message
callbacks) converts and buffers a message, `poll` (a timer live, after each message offline)
assembles frames and queues their `add_frame`. Neither ever waits for encoding, with a bound:
when more than `max_backlog_s` of frames wait for the writer, live sessions drop new frames
(counted as 'writer_backlog'), while offline sessions (`wait_for_writer`, the converter) wait.

Stopping. `request_stop(T)` ends the episode at time T but keeps taking messages stamped before T
for the feature map's `latency` (see EpisodeRecorder); live, the `poll` that sees the clock pass
T + latency finishes it, offline the converter calls `stop_episode` once the log time passed it.
`stop_episode` (now) and `discard_episode` finish at once. Every way returns the episode's Future
of its EpisodeResult, done when the writer thread has saved or discarded it. An episode never
runs past its stop time, whatever its messages are stamped.

The clock. Live, the caller also hands its clock to `watch_clock`: a clock that jumps back (a
restarted simulation under use_sim_time) starts a new timeline that the episode's stamps cannot
be ordered against, so the episode is ended at the last reading before the jump and saved.

Memory. A session records hundreds of episodes in one process, each encoding on fresh threads;
it caps glibc's malloc arenas and hands freed memory back after every save or discard
(dojo_core.memory), which keeps the process flat (benchmarks/record_soak.py).

The recorder node and `dojo convert` both drive this class; that is what makes a live recording
and the conversion of the same bag produce the same frames.
"""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dojo_core.dataset import DatasetWriter, VideoEncodingError, push_to_hub
from dojo_core.memory import cap_malloc_arenas, release_free_memory
from dojo_core.recording.dataset import DatasetSettings, RecordingError, open_dataset
from dojo_core.recording.episode import EpisodeRecorder, EpisodeResult, HeldMessages
from dojo_core.sync import ClockWatch, ExtractionError, FeatureMap

DEFAULT_MAX_BACKLOG_S = 5.0


@dataclass(frozen=True)
class SessionStatus:
    """A snapshot for /diagnostics. `episode_index`: the episode being recorded, else the next one;
    `rejected`: refused messages by reason since the session opened; `backlog`: frames waiting for
    the writer; `last`: the most recent finished episode."""

    recording: bool
    episode_index: int
    task: str | None
    frames: int
    duration_s: float
    rate_hz: float
    dropped: int
    dropped_by_reason: dict[str, int]
    rejected: dict[str, int]
    saved_episodes: int
    backlog: int
    last: EpisodeResult | None


@dataclass
class _Active:
    """The episode being recorded, its writer-side error (worker thread only) and its outcome."""

    recorder: EpisodeRecorder
    index: int
    error: str | None = None
    saving: bool = False                      # stopped to be saved (counted in RecordingSession._saving)
    done: Future[EpisodeResult] = field(default_factory=Future)


class RecordingSession:
    """Episodes of one dataset (created or resumed at construction; see open_dataset)."""

    def __init__(self, settings: DatasetSettings, features: FeatureMap, *,
                 max_backlog_s: float = DEFAULT_MAX_BACKLOG_S, wait_for_writer: bool = False) -> None:
        self.features = features
        self.settings = settings
        cap_malloc_arenas()   # before the writer and encoder threads exist
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix='dataset_writer')
        try:
            opened = self._pool.submit(open_dataset, settings, features).result()
        except BaseException:
            self._pool.shutdown()
            raise
        self._writer: DatasetWriter = opened.writer
        self.notes = opened.notes
        self._lock = threading.Lock()             # the episode and the counters, held briefly
        self._submit_lock = threading.RLock()     # keeps writer calls in order; never taken by the worker
        self._held = HeldMessages(features)
        self._active: _Active | None = None
        self._saved = self._writer.num_episodes
        self._saving = 0                      # stopped episodes whose save has not finished
        self._slots = threading.Semaphore(max(1, round(max_backlog_s * features.fps)))
        self._wait = wait_for_writer
        self._queued = 0                      # frames submitted to the worker (caller threads, under the lock)
        self._written = 0                     # frames the worker has taken (worker thread only)
        self._rejected: Counter[str] = Counter()
        self._last: EpisodeResult | None = None
        self._clock = ClockWatch()
        self._closed = False

    @property
    def root(self) -> Path:
        return Path(self.settings.root)

    @property
    def recording(self) -> bool:
        return self._active is not None

    @property
    def latency_ns(self) -> int:
        """How long a stop waits for messages stamped before it (the feature map's latency)."""
        return round(self.features.latency * 1e9)

    # -- messages and frames (any thread) ---------------------------------------------------------
    def push(self, topic: str, msg: Any, receive_ns: int | None = None) -> list[ExtractionError]:
        """Offer a message of a mapped topic; returns the refusals (counted by reason).

        Outside an episode only held topics are kept (see HeldMessages); nothing is checked.
        """
        with self._lock:
            self._held.offer(topic, msg, receive_ns)
            if self._active is None:
                return []
            errors = self._active.recorder.push(topic, msg, receive_ns)
            self._rejected.update(error.reason for error in errors)
            return errors

    def forget_held(self) -> None:
        """Drop the held messages (a new recording, e.g. the next bag, whose commands start afresh)."""
        with self._lock:
            self._held = HeldMessages(self.features)

    def poll(self, now_ns: int | None = None) -> int:
        """Assemble what can be assembled and queue it for the writer; returns the frames queued.

        Live, pass the clock: this also finishes a requested stop once ``now_ns`` passed its time
        + latency. Offline, pass nothing (the newest stamp stands in for the clock).
        """
        with self._submit_lock:
            with self._lock:
                active = self._active
                if active is None:
                    return 0
                stop_ns = active.recorder.stop_ns
                # Once stopped, the clock no longer pushes ticks past the stop: the ticks after the
                # last messages are left to finish(), which ends them as a conversion would.
                horizon = now_ns if now_ns is None or stop_ns is None else min(now_ns, stop_ns)
                rows = active.recorder.poll(horizon)
            queued = self._queue(active, rows)
            if now_ns is not None and stop_ns is not None and now_ns >= stop_ns + self.latency_ns:
                self.finish_stop()
            return queued

    def watch_clock(self, now_ns: int) -> Future[EpisodeResult] | None:
        """Live: see the caller's clock (before pushing or polling with it). If it jumped back while
        an episode is recording, that episode is ended at the last reading before the jump and saved;
        returns its Future (None otherwise)."""
        with self._submit_lock:
            with self._lock:
                before = self._clock.jumped_back(now_ns)
                if before is None or self._active is None:
                    return None
                self._active.recorder.stop_at(before)
            return self.stop_episode()

    def _queue(self, active: _Active, rows: list[dict[str, np.ndarray]]) -> int:
        """Submit rows in order (caller holds _submit_lock, not _lock: waiting for a slot must not
        block the worker, which takes _lock when an episode is saved)."""
        queued = 0
        for row in rows:
            if not self._slots.acquire(blocking=self._wait):
                with self._lock:
                    active.recorder.skip('writer_backlog')
                continue
            self._queued += 1
            queued += 1
            self._pool.submit(self._add_frame, active, row)
        return queued

    # -- episodes ---------------------------------------------------------------------------------
    def start_episode(self, task: str, now_ns: int | None = None) -> int:
        """Start recording an episode of ``task``; returns its (expected) episode index.

        Live, pass the clock: held messages stamped after it are not carried in (see HeldMessages), and
        `watch_clock` measures jumps from it.
        """
        if not isinstance(task, str) or not task.strip():
            raise RecordingError('no task description: set one (the task parameter or --task) or publish it '
                                 'on the task topic')
        with self._lock:
            self._check_open()
            if self._active is not None:
                raise RecordingError(f'episode {self._active.index} is being recorded; stop or discard it first')
            if now_ns is not None:
                self._clock = ClockWatch(last_ns=now_ns)
            index = self._saved + self._saving
            self._active = _Active(EpisodeRecorder(self.features, task.strip(), self._held.messages(now_ns)), index)
            return index

    def request_stop(self, stop_ns: int) -> Future[EpisodeResult]:
        """Stop the episode at ``stop_ns``: from now on messages stamped later are ignored, and the
        episode is finished by the `poll(now)` that passes stop_ns + latency (or by stop_episode)."""
        with self._lock:
            if self._active is None:
                raise RecordingError('no episode is being recorded')
            self._active.recorder.stop_at(stop_ns)
            return self._active.done

    @property
    def stopping(self) -> bool:
        """A stop was requested and the episode is still taking its last messages."""
        active = self._active
        return active is not None and active.recorder.stop_ns is not None

    def finish_stop(self) -> bool:
        """Finish a requested stop now (e.g. the clock stands still); False if none is pending."""
        with self._submit_lock:
            if not self.stopping:
                return False
            self.stop_episode()
            return True

    def stop_episode(self, end_ns: int | None = None) -> Future[EpisodeResult]:
        """End the episode now (ticks up to ``end_ns``, default its last message) and save it.

        The Future completes when the save has finished (or failed: see EpisodeResult.error).
        """
        with self._submit_lock:
            with self._lock:
                active = self._take()
                rows = active.recorder.finish(end_ns)
                active.saving = True
                self._saving += 1
            self._queue(active, rows)
            self._pool.submit(self._complete, active, self._save)
            return active.done

    def discard_episode(self) -> Future[EpisodeResult]:
        """Drop the episode being recorded (its frames, already encoded or not, are deleted)."""
        with self._submit_lock:
            with self._lock:
                active = self._take()
                active.recorder.finish()
            self._pool.submit(self._complete, active, self._discard)
            return active.done

    def _take(self) -> _Active:
        if self._active is None:
            raise RecordingError('no episode is being recorded')
        active, self._active = self._active, None
        return active

    def status(self) -> SessionStatus:
        with self._lock:
            active = self._active
            if active is not None:
                frames = active.recorder.frames
                partial = active.recorder.result(active.index, saved=False, frames=frames)
                dropped, reasons, duration = partial.dropped, partial.dropped_by_reason, partial.duration_s
            else:
                frames, dropped, reasons, duration = 0, 0, {}, 0.0
            return SessionStatus(
                recording=active is not None,
                episode_index=active.index if active is not None else self._saved + self._saving,
                task=active.recorder.task if active is not None else None,
                frames=frames, duration_s=duration, rate_hz=frames / duration if duration else 0.0,
                dropped=dropped, dropped_by_reason=reasons, rejected=dict(self._rejected),
                saved_episodes=self._saved, backlog=self._queued - self._written, last=self._last)

    def episode_duration_s(self) -> float:
        """Timeline the episode being recorded covers so far (0 when none)."""
        with self._lock:
            return self._active.recorder.duration_s if self._active is not None else 0.0

    # -- the writer thread ------------------------------------------------------------------------
    def _complete(self, active: _Active, end) -> None:
        """Run ``end`` (_save or _discard) and hand its result to whoever waits on the episode."""
        try:
            result = end(active)
        except BaseException as exc:   # e.g. a failed discard: the waiting caller gets the error
            with self._lock:
                self._saving -= active.saving
            active.done.set_exception(exc)
            return
        finally:
            release_free_memory()   # what the episode's encoders freed
        with self._lock:
            self._saving -= active.saving
            self._saved += result.saved
            self._last = result
        active.done.set_result(result)

    def _add_frame(self, active: _Active, row: dict[str, np.ndarray]) -> None:
        try:
            if active.error is None:
                self._writer.add_frame(row, active.recorder.task)
        except (VideoEncodingError, ValueError) as exc:   # the episode can only be discarded now
            active.error = f'{type(exc).__name__}: {exc}'
        finally:
            self._written += 1
            self._slots.release()

    def _save(self, active: _Active) -> EpisodeResult:
        recorder, frames = active.recorder, self._writer.episode_frames
        if active.error is None and frames == 0:
            active.error = 'no frames'
        if active.error is not None:
            self._writer.discard_episode()
            return recorder.result(active.index, saved=False, frames=frames, error=active.error)
        try:
            summary = self._writer.save_episode()
        except (VideoEncodingError, OSError, RuntimeError) as exc:
            self._writer.discard_episode()
            return recorder.result(active.index, saved=False, frames=frames, error=f'{type(exc).__name__}: {exc}')
        return recorder.result(summary.episode_index, saved=True, frames=summary.length,
                               save_s=summary.save_seconds)

    def _discard(self, active: _Active) -> EpisodeResult:
        frames = self._writer.discard_episode()
        return active.recorder.result(active.index, saved=False, frames=frames)

    # -- the end ----------------------------------------------------------------------------------
    def push_to_hub(self, *, private: bool = False) -> Future[str]:
        """Validate and upload the dataset (on the writer thread, between episodes); the commit URL."""
        with self._lock:
            self._check_open()
            if self._active is not None:
                raise RecordingError(f'episode {self._active.index} is being recorded; stop it before pushing')
            return self._pool.submit(push_to_hub, self.root, self.settings.repo_id, private=private)

    def close(self, *, save: bool = True) -> EpisodeResult | None:
        """Save (or discard) the episode being recorded, close the writer and end the worker thread.

        Returns the result of that episode, if there was one. Safe to call twice.
        """
        with self._lock:
            if self._closed:
                return None
            self._closed = True   # no new episode from here on
            active = self._active is not None
        result = None
        if active:
            try:
                result = (self.stop_episode() if save else self.discard_episode()).result()
            except RecordingError:   # another thread stopped it meanwhile
                pass
        try:
            self._pool.submit(self._writer.close).result()
        finally:
            self._pool.shutdown()
        return result

    def _check_open(self) -> None:
        if self._closed:
            raise RecordingError(f'the recording session of {self.root} is closed')
