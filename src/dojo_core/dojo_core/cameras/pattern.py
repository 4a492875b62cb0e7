"""A test-pattern video, which tests and benchmarks feed to camera code in place of a camera.

Each frame is pure red, so an RGB/BGR mix-up shows as blue. Its index is drawn along the top
edge as binary blocks (white = 1, least significant bit on the left), which survive JPEG
compression and which :func:`read_frame_counter` decodes, and as digits for anyone who looks.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

#: Bits of the frame index drawn on a frame; indices wrap at 2**COUNTER_BITS.
COUNTER_BITS = 10
RED = (255, 0, 0)


def _block_width(width: int) -> int:
    return width // COUNTER_BITS


def pattern_frame(index: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of the pattern as an HxWx3 RGB uint8 array."""
    block = _block_width(width)
    if block < 4 or height < 32:
        raise ValueError(f'the pattern needs at least {4 * COUNTER_BITS}x32 pixels, got {width}x{height}')
    image = np.empty((height, width, 3), np.uint8)
    image[:] = RED
    strip = height // 8
    for bit in range(COUNTER_BITS):
        image[:strip, bit * block:(bit + 1) * block] = 255 if index >> bit & 1 else 0
    scale = height / 120
    cv2.putText(image, str(index), (width // 3, height // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                max(1, round(2 * scale)))
    return image


def read_frame_counter(image: np.ndarray) -> int:
    """The index drawn on an RGB pattern frame (modulo 2**COUNTER_BITS), read at the centre of each block."""
    block, strip = _block_width(image.shape[1]), image.shape[0] // 8
    centres = image[strip // 2, block // 2::block][:COUNTER_BITS].mean(axis=1)
    return sum(1 << bit for bit, value in enumerate(centres) if value > 128)


def write_pattern_video(path: str | Path, width: int, height: int, fps: float, frames: int) -> Path:
    """Write ``frames`` pattern frames as Motion-JPEG in an AVI container (fast to decode, no licence issues)."""
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write an MJPG video to {path}')
    try:
        for index in range(frames):
            writer.write(cv2.cvtColor(pattern_frame(index, width, height), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path
