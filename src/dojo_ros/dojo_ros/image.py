"""sensor_msgs/Image <-> numpy without cv_bridge.

Decoding (`image_to_numpy`) is ROS-free and lives in dojo_core.sync.image, where the bag converter
uses it on rosbags messages too; this module adds the direction that builds an rclpy message.
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

# The decoding side is ROS-free and shared with the bag converter; it is re-exported here so that
# nodes import every Image conversion from one place.
from dojo_core.sync.image import ENCODINGS, ImageConversionError, encoding_layout, image_to_numpy

__all__ = ['ENCODINGS', 'ImageConversionError', 'image_to_numpy', 'numpy_to_image']

_NATIVE_BIG_ENDIAN = sys.byteorder == 'big'


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
    dtype, channels = encoding_layout(encoding)
    if not isinstance(array, np.ndarray):
        raise ImageConversionError(f'expected a numpy array, got {type(array).__name__}', 'not_array')
    if array.dtype.newbyteorder('=') != dtype:
        raise ImageConversionError(
            f'encoding {encoding} needs dtype {dtype}, got {array.dtype}', 'bad_dtype'
        )
    expected_ndim = 3 if channels > 1 else 2
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        wanted = 'HxWx3' if channels > 1 else 'HxW'
        raise ImageConversionError(
            f'encoding {encoding} needs a {wanted} array, got shape {array.shape}', 'bad_shape'
        )
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ImageConversionError(f'zero-size image (shape {array.shape})', 'zero_size')

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
