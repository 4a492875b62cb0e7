"""Capture settings of one camera, as a dataclass that camera_node declares as ROS parameters."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_DEVICE_PATH = re.compile(r'^/dev/')


@dataclass
class CaptureConfig:
    """What to open and what to deliver; every consumer gets frames of exactly width x height."""

    device: str = field(default='0', metadata={
        'description': 'Camera to open: a device index ("0"), a V4L2 device path ("/dev/video0", or a '
                       'stable /dev/v4l/by-id/... link), or anything else as a video file, replayed at fps '
                       '(tests, replays).',
        'read_only': True})
    width: int = field(default=640, metadata={
        'description': 'Image width in pixels requested from a device and published; frames of another '
                       'size are resized (and the mismatch reported).',
        'range': (1, 8192), 'read_only': True})
    height: int = field(default=480, metadata={
        'description': 'Image height in pixels, as width.', 'range': (1, 8192), 'read_only': True})
    fps: float = field(default=30.0, metadata={
        'description': 'Frame rate requested from a device (verified against what it reports), and the '
                       'replay rate of a video file.',
        'range': (0.1, 1000.0), 'read_only': True})
    loop: bool = field(default=True, metadata={
        'description': 'Video files: start again after the last frame; false stops there.',
        'read_only': True})
    fourcc: str = field(default='', metadata={
        'description': 'Pixel format requested from a device, e.g. MJPG (many USB cameras reach 30 fps at '
                       '640x480 only in MJPG); empty keeps the device default. Ignored for files.',
        'read_only': True})
    reopen_interval_s: float = field(default=0.5, metadata={
        'description': 'Wait before the first attempt to re-open a camera that failed or is missing; '
                       'doubled on every failed attempt up to reopen_max_interval_s.',
        'range': (0.01, 60.0), 'read_only': True})
    reopen_max_interval_s: float = field(default=5.0, metadata={
        'description': 'Longest wait between attempts to re-open a camera.', 'range': (0.01, 600.0),
        'read_only': True})

    def __post_init__(self) -> None:
        if not self.device.strip():
            raise ValueError('device is empty; give an index ("0"), a /dev/video* path or a video file')
        if self.width < 1 or self.height < 1 or self.fps <= 0:
            raise ValueError(f'width, height and fps must be positive, got {self.width}x{self.height} @ {self.fps}')
        if self.fourcc and len(self.fourcc) != 4:
            raise ValueError(f'fourcc must be 4 characters (e.g. MJPG, YUYV) or empty, got {self.fourcc!r}')
        if self.reopen_max_interval_s < self.reopen_interval_s:
            raise ValueError(f'reopen_max_interval_s ({self.reopen_max_interval_s}) is shorter than '
                             f'reopen_interval_s ({self.reopen_interval_s})')

    @property
    def is_file(self) -> bool:
        """True for a video file, False for a camera (an integer index or a /dev/ path)."""
        return not (self.device.isdigit() or _DEVICE_PATH.match(self.device))

    @property
    def period_s(self) -> float:
        return 1.0 / self.fps
