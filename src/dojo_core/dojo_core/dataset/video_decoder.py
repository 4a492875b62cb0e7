"""Frame-exact random access into mp4 files by presentation time (PyAV).

Training reads frames in random order, a few at a time, from long files that hold many episodes
(LeRobot v3.0 concatenates a camera's episodes into one mp4). Decoding from the start of the file
would be far too slow, and decoding by frame *number* is wrong for such files, so frames are found
by their presentation timestamp: seek to the keyframe at or before the requested time, decode
forward, and accept the frame whose pts is within `tolerance_s` of it (the same rule and default
as lerobot, so a dataset that reads here also reads there). A request that lands between frames is
an error, never a silently substituted neighbour.

Open files are kept in a small LRU cache together with their decoder position: a request at most
one keyframe interval ahead (sequential iteration, an observation history, a batch sorted by
time) continues decoding forward instead of seeking again. The cache belongs to one process:
after a fork (a DataLoader worker) it starts empty, and it is never pickled.
"""
from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
import numpy as np


# Decoders inherited through fork, kept referenced for the life of the process: freeing one joins
# its decoding threads, which do not exist in the child, and would hang it.
_INHERITED: list[OrderedDict] = []


class FrameTimestampError(LookupError):
    """No frame of the video has its presentation time within tolerance of the requested one."""


class _OpenVideo:
    """One open mp4: its first video stream, the decoder position and the last converted frame."""

    def __init__(self, path: Path, tolerance_s: float, threads: int):
        self.path = path
        self.tolerance_s = tolerance_s
        self.container = av.open(str(path))
        if not self.container.streams.video:   # a damaged file can still parse as a container
            self.container.close()
            raise ValueError(f'{path} holds no video stream')
        self.stream = self.container.streams.video[0]
        self.stream.codec_context.thread_count = threads
        self.time_base = float(self.stream.time_base)
        rate = self.stream.average_rate
        # Longest keyframe interval seen so far (starts at one frame): a target at most this far
        # ahead is reached by decoding forward at no more cost than a seek would have.
        self._gop_s = 1.0 / float(rate) if rate else 0.0
        self._last_key: float | None = None
        self._frames: Iterator[av.VideoFrame] | None = None
        self._position = -math.inf  # time of the last frame taken from the decoder
        self._last: tuple[float, np.ndarray] | None = None

    def frame_at(self, t: float) -> np.ndarray:
        """The RGB frame (H, W, 3) uint8 presented at time t (seconds)."""
        if self._last is not None and abs(self._last[0] - t) <= self.tolerance_s:
            return self._last[1]
        if self._frames is None or not 0 < t - self._position <= self._gop_s + self.tolerance_s:
            self._seek(t)
        for frame in self._frames:
            frame_time = frame.pts * self.time_base
            self._position = frame_time
            if frame.key_frame:
                if self._last_key is not None:
                    self._gop_s = max(self._gop_s, frame_time - self._last_key)
                self._last_key = frame_time
            if frame_time < t - self.tolerance_s:
                continue  # not converted: only the requested frame pays for colour conversion
            if frame_time > t + self.tolerance_s:
                raise FrameTimestampError(
                    f'{self.path}: no frame at t={t:.6f} s (next frame at {frame_time:.6f} s, '
                    f'tolerance {self.tolerance_s} s)')
            image = frame.to_ndarray(format='rgb24')
            self._last = (frame_time, image)
            return image
        self._frames = None
        raise FrameTimestampError(f'{self.path}: t={t:.6f} s is past the last frame')

    def _seek(self, t: float) -> None:
        # Seek lands on the keyframe at or before the target; backing off by the tolerance keeps a
        # target that is a hair early (float sums of from_timestamp) on the right side.
        target = math.floor((t - self.tolerance_s) / self.time_base)
        self.container.seek(max(target, 0), stream=self.stream, backward=True, any_frame=False)
        self._frames = self.container.decode(self.stream)
        self._position = -math.inf
        self._last_key = None  # keyframe intervals are only measured over uninterrupted decoding

    def close(self) -> None:
        self.container.close()


class VideoDecoder:
    """Decodes frames of mp4 files at given presentation times, keeping recently used files open.

    `threads`: decoding threads per open file. One is fastest for random access (a seek decodes
    one or two frames, too few to share out) and right for DataLoader workers, which already
    use one process per core; raise it for long sequential reads of large frames. Not thread
    safe: a decoder holds per-file decoding state, so give each thread its own.
    """

    def __init__(self, tolerance_s: float = 1e-4, max_open_files: int = 16, threads: int = 1):
        if tolerance_s <= 0:
            raise ValueError(f'tolerance_s must be positive, got {tolerance_s}')
        self.tolerance_s = tolerance_s
        self.max_open_files = max_open_files
        self.threads = threads
        self._open: OrderedDict[Path, _OpenVideo] = OrderedDict()
        self._pid = os.getpid()

    def frames(self, path: str | os.PathLike, timestamps: Sequence[float]) -> np.ndarray:
        """Frames at `timestamps` (seconds, any order, repeats allowed) as (T, H, W, 3) uint8."""
        video = self._video(Path(path))
        times = np.asarray(timestamps, dtype=np.float64)
        order = np.argsort(times, kind='stable')  # decode in time order: forward, not back and forth
        images: list[np.ndarray | None] = [None] * len(times)
        for i in order:
            images[i] = video.frame_at(float(times[i]))
        return np.stack(images)

    def close(self) -> None:
        for video in self._open.values():
            video.close()
        self._open.clear()

    def _video(self, path: Path) -> _OpenVideo:
        if os.getpid() != self._pid:  # forked: the parent's open files and decoder state are not ours
            _INHERITED.append(self._open)
            self._open = OrderedDict()
            self._pid = os.getpid()
        video = self._open.get(path)
        if video is None:
            video = _OpenVideo(path, self.tolerance_s, self.threads)
            self._open[path] = video
            while len(self._open) > self.max_open_files:
                self._open.popitem(last=False)[1].close()
        self._open.move_to_end(path)
        return video

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state['_open'] = OrderedDict()
        return state
