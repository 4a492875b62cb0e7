"""OpenCV capture of one camera, or of a video file standing in for one, in a background thread.

Why a thread: ``cv2.VideoCapture.read`` blocks until the source has a frame (for an unplugged V4L2
camera, until the driver's timeout), and a consumer such as a ROS node must never wait on it. The
thread keeps only the newest frame; the consumer takes it when it likes (:meth:`latest_frame`,
never blocks) or waits for the next one with a timeout (:meth:`wait_for_frame`). A frame replaced
before anyone took it is counted as dropped: for a live camera the newest image is the one worth
having.

Every frame is stamped with the injected clock right after the read returns (camera_node passes
the ROS clock), converted from OpenCV's BGR to RGB and resized to the configured size, so
consumers can rely on the shape. Rates and late frames are measured on the monotonic clock
whatever the stamp clock is. Video files are paced at the configured fps, as a camera would be.

A source that fails (a missing file, an unplugged camera, reads that return nothing) is reported
in :meth:`stats` and re-opened with exponential backoff; nothing raises out of the thread.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from dojo_core.cameras.config import CaptureConfig
from dojo_core.cameras.health import CaptureHealth, CaptureState, CaptureStats

#: Consecutive failed reads after which a camera is released and opened again.
FAILED_READS_BEFORE_REOPEN = 3


class CaptureError(RuntimeError):
    """A source that cannot be opened or read; the message says which and why."""


class Logger(Protocol):
    """What the capture logs through: a logging.Logger or an rclpy node logger both fit."""

    def info(self, message: str) -> object: ...

    def warning(self, message: str) -> object: ...

    def error(self, message: str) -> object: ...


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # HxWx3 uint8, RGB, the configured width and height
    stamp_ns: int      # the stamp clock right after the read returned
    sequence: int      # 0, 1, 2, ... over the capture's life; gaps seen by a consumer are dropped frames


class CameraCapture:
    """Reads ``config.device`` in a thread from :meth:`start` until :meth:`stop`."""

    def __init__(self, config: CaptureConfig, clock: Callable[[], int] = time.time_ns,
                 logger: Logger | None = None) -> None:
        self.config = config
        self._clock = clock
        self._log = logger or logging.getLogger(__name__)
        self.health = CaptureHealth(config.fps)
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._sequence = 0
        self._mismatch = ''
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f'capture {config.device}', daemon=True)

    # -- consumer side ----------------------------------------------------------------------------
    def start(self) -> CameraCapture:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop reading. A read stuck in a driver is abandoned after ``timeout_s`` (the thread is a daemon)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self.health.set_state(CaptureState.STOPPED)

    def __enter__(self) -> CameraCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def latest_frame(self) -> Frame | None:
        """Take the newest frame not taken yet, or None; never waits for the camera."""
        with self._cond:
            frame, self._latest = self._latest, None
            return frame

    def wait_for_frame(self, timeout_s: float) -> Frame | None:
        """Take the newest frame, waiting up to ``timeout_s`` for one; None on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._latest is not None, timeout_s)
            frame, self._latest = self._latest, None
            return frame

    def stats(self) -> CaptureStats:
        return self.health.snapshot(time.monotonic())

    # -- capture thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        cfg = self.config
        delay, attempt, reported = cfg.reopen_interval_s, 0, ''
        while not self._stop.is_set():
            if attempt:
                self.health.reopen_attempt()
            attempt += 1
            delivered = self._sequence
            try:
                capture = self._open()
                try:
                    self._stream(capture)
                finally:
                    capture.release()
                if not self._stop.is_set():
                    self.health.set_state(CaptureState.ENDED)
                    self._log.info(f'camera {cfg.device}: end of the video file (loop is false)')
                return
            except Exception as exc:  # noqa: BLE001 - a camera problem must never end the thread
                error = str(exc) if isinstance(exc, CaptureError) else f'{type(exc).__name__}: {exc}'
            self.health.set_state(CaptureState.RECONNECTING, error)
            if self._sequence > delivered:  # it worked for a while: retry soon, and say so if it fails again
                delay, reported = cfg.reopen_interval_s, ''
            if error != reported:  # the same error every few seconds is on /diagnostics, not in the log
                self._log.error(f'camera {cfg.device}: {error}; re-opening in {delay:g} s (backing off '
                                f'to {cfg.reopen_max_interval_s:g} s)')
                reported = error
            self._stop.wait(delay)
            delay = min(2 * delay, cfg.reopen_max_interval_s)

    def _open(self) -> cv2.VideoCapture:
        cfg = self.config
        if cfg.is_file:
            if not Path(cfg.device).exists():
                raise CaptureError(f'video file {cfg.device} does not exist')
            capture = cv2.VideoCapture(cfg.device)
            if not capture.isOpened():
                raise CaptureError(f'OpenCV cannot open video file {cfg.device} (not a video, or a codec its '
                                   'FFmpeg lacks)')
            return capture
        if not cfg.device.isdigit() and not Path(cfg.device).exists():
            raise CaptureError(f'camera device {cfg.device} does not exist (unplugged?)')
        capture = cv2.VideoCapture(int(cfg.device) if cfg.device.isdigit() else cfg.device)
        if not capture.isOpened():
            raise CaptureError(f'cannot open camera {cfg.device}: missing, busy in another program, or no '
                               'permission (is the user in the video group?)')
        if cfg.fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*cfg.fourcc))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        capture.set(cv2.CAP_PROP_FPS, cfg.fps)
        return capture

    def _stream(self, capture: cv2.VideoCapture) -> None:
        """Read until stopped or the end of a non-looping file; raises CaptureError when the source fails."""
        cfg = self.config
        self.health.restart()
        self.health.set_state(CaptureState.STREAMING)
        failures, since_rewind, described, due = 0, 0, False, time.monotonic()
        while not self._stop.is_set():
            if cfg.is_file and self._stop.wait(max(0.0, due - time.monotonic())):
                return
            ok, image = capture.read()
            now, stamp = time.monotonic(), self._clock()
            if not ok:
                if cfg.is_file and since_rewind > 0:  # end of the file
                    if not cfg.loop:
                        return
                    if not capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
                        raise CaptureError(f'cannot rewind video file {cfg.device}')
                    since_rewind = 0
                    continue
                self.health.read_failure()
                failures += 1
                if cfg.is_file:
                    raise CaptureError(f'video file {cfg.device} has no readable frame')
                if failures >= FAILED_READS_BEFORE_REOPEN:
                    raise CaptureError(f'camera {cfg.device} returned no frame {failures} times in a row '
                                       '(unplugged or stalled?)')
                continue
            if not described:
                self._describe_source(capture, image)
                described = True
            failures = 0
            since_rewind += 1
            self._deliver(self._convert(image), stamp, now)
            if cfg.is_file:
                due = max(due + cfg.period_s, now - cfg.period_s)  # fell behind: do not burst to catch up

    def _describe_source(self, capture: cv2.VideoCapture, image: np.ndarray) -> None:
        """Record what the source really delivers (the first frame, not what the driver claims) and warn
        once about each difference from the configuration."""
        cfg = self.config
        height, width = image.shape[:2]
        fps = capture.get(cv2.CAP_PROP_FPS)  # 0 when unknown
        source = f'{width}x{height}' + (f' @ {fps:g} fps' if fps > 0 else '')
        problems = []
        if (width, height) != (cfg.width, cfg.height):
            problems.append(f'{width}x{height} images instead of {cfg.width}x{cfg.height} (resized)')
        if not cfg.is_file:
            fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, 'little').decode('ascii', 'replace')
            source += f' {fourcc}'
            if fps > 0 and abs(fps - cfg.fps) > 0.5:
                problems.append(f'{fps:g} fps instead of {cfg.fps:g}')
            if cfg.fourcc and fourcc != cfg.fourcc:
                problems.append(f'pixel format {fourcc} instead of {cfg.fourcc}')
        mismatch = '; '.join(problems)
        self._log.info(f'camera {cfg.device}: streaming, source delivers {source}')
        if mismatch and mismatch != self._mismatch:
            self._log.warning(f'camera {cfg.device} delivers {mismatch}')
        self._mismatch = mismatch
        self.health.set_source(source, mismatch)

    def _convert(self, image: np.ndarray) -> np.ndarray:
        cfg = self.config
        if image.ndim == 3 and image.shape[2] == 3:
            code = cv2.COLOR_BGR2RGB
        elif image.ndim == 2:
            code = cv2.COLOR_GRAY2RGB
        else:
            raise CaptureError(f'camera {cfg.device} delivers frames of shape {image.shape}; expected BGR or grey')
        if image.shape[:2] != (cfg.height, cfg.width):
            image = cv2.resize(image, (cfg.width, cfg.height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(image, code)

    def _deliver(self, image: np.ndarray, stamp_ns: int, now: float) -> None:
        with self._cond:
            if self._latest is not None:
                self.health.dropped()
            self._latest = Frame(image, stamp_ns, self._sequence)
            self._sequence += 1
            self.health.frame(now)
            self._cond.notify_all()
