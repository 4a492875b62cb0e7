"""sensor_msgs/Image <-> numpy without cv_bridge.

cv_bridge is a compiled package tied to a ROS distro and OpenCV build; dojo only needs the handful
of encodings its cameras and depth sensors produce, so the conversion is done here with numpy alone.
Conventions follow cv_bridge: colour images are HxWx3 in the channel order the encoding names (no
silent RGB<->BGR swap), single-channel images are HxW, depth is 16UC1 millimetres or 32FC1 metres
(REP-118).
"""
from __future__ import annotations

import sys
from array import array as PyArray

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

#: encoding -> (element dtype, channels). The only encodings dojo nodes produce or consume.
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    'rgb8': (np.dtype(np.uint8), 3),
    'bgr8': (np.dtype(np.uint8), 3),
    'mono8': (np.dtype(np.uint8), 1),
    '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}

_NATIVE_BIG_ENDIAN = sys.byteorder == 'big'


class ImageConversionError(ValueError):
    """An Image message or array that cannot be converted (bad encoding, size or layout)."""


def _lookup(encoding: str) -> tuple[np.dtype, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageConversionError(
            f'unsupported image encoding {encoding!r}; supported: {", ".join(ENCODINGS)}'
        ) from None


def image_to_numpy(msg: Image) -> np.ndarray:
    """Return the pixels of ``msg`` as a native-endian array that owns its memory.

    Row padding (``step`` larger than the pixel bytes of a row) is dropped and big-endian data is
    byte-swapped, so callers never need to look at the layout fields. The result is a copy: the
    message buffer may be reused by the middleware after the callback returns.
    """
    dtype, channels = _lookup(msg.encoding)
    height, width, step = msg.height, msg.width, msg.step
    if height == 0 or width == 0:
        raise ImageConversionError(f'zero-size image ({width}x{height}, encoding {msg.encoding})')
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f'step {step} is smaller than width*bytes_per_pixel = {width}*'
            f'{channels * dtype.itemsize} = {row_bytes} (encoding {msg.encoding})'
        )
    if len(msg.data) != height * step:
        raise ImageConversionError(
            f'data has {len(msg.data)} bytes but height*step = {height}*{step} = '
            f'{height * step} (encoding {msg.encoding})'
        )
    wire_dtype = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    pixels = rows.view(wire_dtype)
    shape = (height, width, channels) if channels > 1 else (height, width)
    # One copy: drops padding, converts to native byte order, detaches from the message buffer.
    return np.array(pixels, dtype=dtype, order='C', copy=True).reshape(shape)


def numpy_to_image(
    array: np.ndarray,
    encoding: str,
    *,
    stamp: Time | None = None,
    frame_id: str = '',
) -> Image:
    """Pack ``array`` into an Image with a tight ``step`` and native byte order.

    The array must already have the dtype and shape the encoding implies (HxWx3 for rgb8/bgr8, HxW
    otherwise); nothing is converted implicitly, so a float depth map cannot be sent as 16UC1 by
    accident. Non-native byte order and non-contiguous views are accepted and normalised.
    """
    dtype, channels = _lookup(encoding)
    if not isinstance(array, np.ndarray):
        raise ImageConversionError(f'expected a numpy array, got {type(array).__name__}')
    if array.dtype.newbyteorder('=') != dtype:
        raise ImageConversionError(
            f'encoding {encoding} needs dtype {dtype}, got {array.dtype}'
        )
    expected_ndim = 3 if channels > 1 else 2
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        wanted = 'HxWx3' if channels > 1 else 'HxW'
        raise ImageConversionError(
            f'encoding {encoding} needs a {wanted} array, got shape {array.shape}'
        )
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ImageConversionError(f'zero-size image (shape {array.shape})')

    contiguous = np.ascontiguousarray(array, dtype=dtype)
    # The generated setter takes array.array('B') as is; with ROS_PYTHON_CHECK_FIELDS=1 it checks
    # bytes or lists element by element in Python (~60 ms for a VGA frame).
    data = PyArray('B')
    data.frombytes(memoryview(contiguous).cast('B'))

    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height = height
    msg.width = width
    msg.encoding = encoding
    msg.is_bigendian = int(_NATIVE_BIG_ENDIAN)
    msg.step = width * channels * dtype.itemsize
    msg.data = data
    return msg
