"""Encode camera frames while recording, and join encoded segments without re-encoding.

Each camera of the episode being recorded has one `SegmentEncoder`: a thread fed through a
bounded queue that encodes into its own mp4 segment (pts = frame number, time base 1/fps).
Saving an episode then only flushes the encoder (a few frames) and stream-copies the segment
onto the end of the camera's current file (`concatenate`), which keeps each file one continuous
stream whose timestamps are exact frame counts. Why per-episode segments: frames cannot be
un-encoded, so a discarded episode just deletes its segment, and an mp4 is unreadable until its
moov atom is written, so published files are only ever replaced whole by finished ones.

Nothing is dropped silently: a full queue blocks the caller (up to a timeout, then raises), and
an encoder or disk error is re-raised as `VideoEncodingError` by the next `put` or by `finish`.
"""
from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from dojo_core.dataset.stats import FrameSampler, Stats

# SVT-AV1 prints a banner and warnings to stderr for every encoder it opens (one per camera per
# episode while recording); keep its errors only unless the user asked for more.
os.environ.setdefault('SVT_LOG', '1')

# Encoder -> the codec name a decoder reports (what LeRobot stores as `video.codec`).
CODEC_NAMES = {'libsvtav1': 'av1', 'libx264': 'h264'}
CODEC_ALIASES = {'av1': 'libsvtav1', 'svtav1': 'libsvtav1', 'h264': 'libx264'}


class VideoEncodingError(RuntimeError):
    """A camera's frames could not be encoded or written; the episode cannot be saved."""


@dataclass(frozen=True)
class VideoEncoderConfig:
    """Encoder settings; the defaults are LeRobot's (AV1, yuv420p, keyframe every 2 frames).

    `preset` None means 12 for libsvtav1 (LeRobot's choice, fast enough to record live) and the
    encoder's own default otherwise (libx264 takes preset names such as 'veryfast').
    `threads` None lets the encoder pick. libx264 runs without B-frames so that every packet's
    decode order equals its presentation order, which keeps stream-copy joins trivially exact.
    """

    codec: str = 'libsvtav1'
    crf: int = 30
    g: int = 2
    preset: int | str | None = None
    pix_fmt: str = 'yuv420p'
    fast_decode: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, 'codec', CODEC_ALIASES.get(self.codec, self.codec))
        if self.codec not in CODEC_NAMES:
            raise ValueError(f'video codec {self.codec!r} is not supported; use one of {sorted(CODEC_NAMES)}')
        if self.codec not in av.codecs_available:
            raise ValueError(f'video codec {self.codec!r} is not available in this PyAV/FFmpeg build')
        if self.pix_fmt != 'yuv420p':
            raise ValueError(f'pix_fmt {self.pix_fmt!r} is not supported; LeRobot videos are yuv420p')

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]

    @property
    def effective_preset(self) -> int | str | None:
        if self.preset is None and self.codec == 'libsvtav1':
            return 12
        return self.preset

    def options(self) -> dict[str, str]:
        opts = {'g': str(self.g), 'crf': str(self.crf)}
        if self.effective_preset is not None:
            opts['preset'] = str(self.effective_preset)
        if self.codec == 'libsvtav1':
            params = f'fast-decode={self.fast_decode}'
            if self.threads:
                params += f':lp={self.threads}'
            opts['svtav1-params'] = params
        else:
            opts['bf'] = '0'
            if self.threads:
                opts['threads'] = str(self.threads)
        return opts

    def info(self, height: int, width: int, fps: int) -> dict[str, Any]:
        """The feature `info` block of info.json (LeRobot's keys, plus the encoder for resuming)."""
        return {
            'video.height': height, 'video.width': width, 'video.codec': self.codec_name,
            'video.pix_fmt': self.pix_fmt, 'video.is_depth_map': False, 'video.fps': fps,
            'video.channels': 3, 'has_audio': False, 'video.g': self.g, 'video.crf': self.crf,
            'video.preset': self.effective_preset, 'video.fast_decode': self.fast_decode,
            'video.encoder': self.codec,
        }

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> VideoEncoderConfig:
        """The settings a dataset was recorded with, so that resuming encodes the same way."""
        codec = info.get('video.encoder') or CODEC_ALIASES.get(info.get('video.codec', 'av1'), 'libsvtav1')
        return cls(codec=codec, crf=int(info.get('video.crf', 30)), g=int(info.get('video.g', 2)),
                   preset=info.get('video.preset'), pix_fmt=info.get('video.pix_fmt', 'yuv420p'), fast_decode=int(info.get('video.fast_decode', 0)))


@dataclass
class Segment:
    """One finished episode of one camera: an mp4 whose frames have pts 0..frames-1."""

    path: Path
    frames: int
    size: int
    stats: Stats = field(repr=False)


_FINISH = object()


class SegmentEncoder:
    """Encodes one camera's frames of one episode on its own thread (see module docstring)."""

    def __init__(self, name: str, path: Path, fps: int, height: int, width: int,
                 config: VideoEncoderConfig, queue_size: int = 30, put_timeout_s: float = 10.0,
                 sample_capacity: int = 128):
        self.name = name
        self.path = Path(path)
        self._fps = fps
        self._shape = (height, width, 3)
        self._config = config
        self._put_timeout_s = put_timeout_s
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._sampler = FrameSampler(capacity=sample_capacity)
        self._error: BaseException | None = None
        self._cancelled = False
        self._input_ended = False
        self._encoded = 0
        self._submitted = 0
        self._stats: Stats | None = None
        self._thread = threading.Thread(target=self._run, name=f'encode:{name}', daemon=True)
        self._thread.start()

    def put(self, image: np.ndarray) -> None:
        """Queue one HxWx3 uint8 RGB frame (copied); blocks while the encoder is behind."""
        self._raise_if_failed()
        try:
            self._queue.put(np.array(image, copy=True), timeout=self._put_timeout_s)
        except queue.Full:
            raise VideoEncodingError(
                f'{self.name}: the encoder is {self._queue.maxsize} frames behind and made no room in '
                f'{self._put_timeout_s:g} s (too slow for this frame rate and size?)') from None
        self._submitted += 1

    def end_input(self) -> None:
        """No more frames: the thread encodes what is queued and flushes (see `finish`)."""
        if not self._input_ended:
            self._input_ended = True
            self._queue.put(_FINISH)

    def finish(self) -> Segment:
        """Encode what is queued, flush, close the mp4 and compute image stats."""
        self.end_input()
        self._thread.join()
        self._raise_if_failed()
        if self._encoded != self._submitted:
            raise VideoEncodingError(f'{self.name}: {self._submitted} frames queued, {self._encoded} encoded')
        return Segment(self.path, self._encoded, self.path.stat().st_size, self._stats)

    def cancel(self) -> None:
        """Stop without encoding what is queued and delete the segment."""
        self._cancelled = True
        self.end_input()
        self._thread.join()
        self.path.unlink(missing_ok=True)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise VideoEncodingError(f'{self.name}: encoding failed after {self._encoded} frames: '
                                     f'{self._error}') from self._error

    def _run(self) -> None:
        container = stream = None
        try:
            while True:
                image = self._queue.get()
                if image is _FINISH:
                    break
                if self._error is not None or self._cancelled:
                    continue  # keep draining so that a producer never blocks on a dead encoder
                try:
                    if container is None:
                        container, stream = self._open()
                    self._sampler.offer(self._encoded, image)
                    frame = av.VideoFrame.from_ndarray(image, format='rgb24')
                    frame.pts = self._encoded
                    container.mux(stream.encode(frame))
                    self._encoded += 1
                except Exception as exc:  # noqa: BLE001 - re-raised to the caller by put/finish
                    self._error = exc
            if container is not None and self._error is None and not self._cancelled:
                container.mux(stream.encode(None))
                container.close()
                container = None
                self._stats = self._sampler.stats()
        except Exception as exc:  # noqa: BLE001 - flush/close/disk errors, re-raised by finish
            self._error = exc
        finally:
            if container is not None:
                try:
                    container.close()
                except Exception:  # noqa: BLE001 - the segment is abandoned anyway
                    pass

    def _open(self) -> tuple[Any, Any]:
        container = open_output(self.path, self._fps)
        try:
            stream = container.add_stream(self._config.codec, rate=self._fps, options=self._config.options())
            stream.height, stream.width = self._shape[0], self._shape[1]
            stream.pix_fmt = self._config.pix_fmt
            stream.time_base = Fraction(1, self._fps)
        except Exception:
            container.close()
            raise
        return container, stream


def open_output(path: Path, fps: int) -> Any:
    """An mp4 whose video time base is exactly 1/fps, so that pts are frame numbers."""
    return av.open(str(path), 'w', format='mp4', options={'video_track_timescale': str(fps)})


@dataclass(frozen=True)
class Piece:
    """Part of a `concatenate`: frames [0, frames) of `path` (all if None), moved by `offset` frames."""

    path: Path
    frames: int | None = None
    offset: int = 0


def concatenate(pieces: Sequence[Piece], dest: Path, fps: int) -> int:
    """Stream-copy pieces (same codec settings) into one new mp4 at `dest`; returns its frame count.

    Timestamps are rewritten from frame numbers, so the result is one continuous stream with
    pts = frame number at time base 1/fps whatever the pieces' own time bases were.
    """
    written = 0
    with open_output(dest, fps) as out:
        out_stream = None
        for piece in pieces:
            with av.open(str(piece.path)) as inp:
                stream = inp.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(stream, opaque=True)
                ticks_per_frame = 1 / (stream.time_base * fps)
                if ticks_per_frame.denominator != 1:
                    raise VideoEncodingError(f'{piece.path}: time base {stream.time_base} cannot hold {fps} fps')
                ticks_per_frame = int(ticks_per_frame)
                shift = piece.offset * ticks_per_frame
                for packet in inp.demux(stream):
                    if packet.pts is None:
                        continue  # the demuxer's end-of-stream marker
                    frame, rest = divmod(packet.pts, ticks_per_frame)
                    if rest:
                        raise VideoEncodingError(f'{piece.path}: pts {packet.pts} is not a whole frame at {fps} fps')
                    if piece.frames is not None and frame >= piece.frames:
                        continue
                    packet.pts += shift
                    packet.dts = packet.pts if packet.dts is None else packet.dts + shift
                    packet.stream = out_stream
                    out.mux(packet)
                    written += 1
    return written


def container_frame_count(path: Path) -> int:
    """Frame count from the mp4 sample table (fast; used to find appended-but-uncommitted frames)."""
    with av.open(str(path)) as container:
        return container.streams.video[0].frames
