"""dojo_ros.image: Image <-> numpy round trips, step padding, byte order, and every error."""
from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
import sensor_msgs.msg._image as image_module
from sensor_msgs.msg import Image

from dojo_ros.image import ENCODINGS, ImageConversionError, image_to_numpy, numpy_to_image

RNG = np.random.default_rng(0)


def _random(encoding: str, height: int, width: int) -> np.ndarray:
    dtype, channels = ENCODINGS[encoding]
    shape = (height, width, channels) if channels > 1 else (height, width)
    if dtype.kind == 'f':
        return RNG.uniform(-10.0, 10.0, size=shape).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True, dtype=dtype)


def _manual_message(encoding: str, pixels: np.ndarray, *, pad: int, big_endian: bool) -> Image:
    """Build an Image the way a foreign driver might: padded rows, chosen byte order."""
    wire = pixels.astype(pixels.dtype.newbyteorder('>' if big_endian else '<'))
    rows = wire.reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate(
        [rows, np.full((rows.shape[0], pad), 0xAB, dtype=np.uint8)], axis=1
    )
    return Image(
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=padded.shape[1],
        data=padded.tobytes(),
    )


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
@pytest.mark.parametrize(('height', 'width'), [(4, 6), (3, 7), (1, 1)])
def test_round_trip_every_encoding(encoding: str, height: int, width: int) -> None:
    array = _random(encoding, height, width)
    msg = numpy_to_image(array, encoding)

    dtype, channels = ENCODINGS[encoding]
    assert (msg.height, msg.width, msg.encoding) == (height, width, encoding)
    assert msg.step == width * channels * dtype.itemsize
    assert len(msg.data) == height * msg.step
    assert msg.is_bigendian == (sys.byteorder == 'big')

    back = image_to_numpy(msg)
    assert back.dtype == dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_header_fields_are_filled() -> None:
    msg = numpy_to_image(
        _random('mono8', 2, 3), 'mono8', stamp=Time(sec=12, nanosec=345), frame_id='cam_optical'
    )
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345)
    assert msg.header.frame_id == 'cam_optical'


def test_channel_order_is_kept_as_encoded() -> None:
    pixel = np.array([[[10, 20, 30]]], dtype=np.uint8)
    for encoding in ('rgb8', 'bgr8'):
        msg = numpy_to_image(pixel, encoding)
        assert bytes(msg.data) == bytes([10, 20, 30])
        np.testing.assert_array_equal(image_to_numpy(msg), pixel)


def test_wire_layout_is_row_major_native() -> None:
    depth = np.array([[1, 2], [3, 258]], dtype=np.uint16)
    msg = numpy_to_image(depth, '16UC1')
    assert bytes(msg.data) == depth.astype('<u2').tobytes()  # little-endian machines (x86, arm)
    assert msg.is_bigendian == 0


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
@pytest.mark.parametrize('big_endian', [False, True])
def test_padded_step_and_byte_order_are_honoured(encoding: str, big_endian: bool) -> None:
    pixels = _random(encoding, 5, 7)
    msg = _manual_message(encoding, pixels, pad=5, big_endian=big_endian)

    out = image_to_numpy(msg)

    assert out.dtype == ENCODINGS[encoding][0]
    assert out.dtype.isnative
    assert out.flags['C_CONTIGUOUS']
    np.testing.assert_array_equal(out, pixels)


def test_big_endian_values_are_swapped() -> None:
    msg = Image(height=1, width=2, encoding='16UC1', is_bigendian=1, step=4,
                data=bytes([0x01, 0x02, 0x00, 0x05]))
    np.testing.assert_array_equal(image_to_numpy(msg), [[0x0102, 0x0005]])

    metres = np.array([[1.5, -0.25]], dtype='>f4')
    msg = Image(height=1, width=2, encoding='32FC1', is_bigendian=1, step=8, data=metres.tobytes())
    np.testing.assert_array_equal(image_to_numpy(msg), [[1.5, -0.25]])


def test_result_does_not_alias_message_buffer() -> None:
    msg = numpy_to_image(np.zeros((2, 2), dtype=np.uint8), 'mono8')
    out = image_to_numpy(msg)
    out[0, 0] = 99
    assert msg.data[0] == 0
    msg.data[1] = 7
    assert out[0, 1] == 0


def test_non_contiguous_view_keeps_values() -> None:
    base = _random('rgb8', 6, 8)
    expected = base[::2, 1::3].copy()
    msg = numpy_to_image(base[::2, 1::3], 'rgb8')
    base[...] = 0
    np.testing.assert_array_equal(image_to_numpy(msg), expected)


def test_non_native_input_array_is_converted() -> None:
    depth = np.array([[1, 2, 300]], dtype='>u2')
    msg = numpy_to_image(depth, '16UC1')
    assert msg.is_bigendian == (sys.byteorder == 'big')
    np.testing.assert_array_equal(image_to_numpy(msg), [[1, 2, 300]])


def test_vga_rgb_conversion_is_vectorised(monkeypatch: pytest.MonkeyPatch) -> None:
    # With ROS_PYTHON_CHECK_FIELDS=1 (here switched on for Image) a per-element path, such as
    # assigning bytes to Image.data, costs ~60 ms per VGA frame; the vectorised one ~0.05-1 ms (the
    # upper end is glibc returning the 1 MB buffer to the OS after every frame). The bound leaves
    # headroom for a loaded 2-core CI machine.
    monkeypatch.setattr(image_module, 'ros_python_check_fields', '1')
    frame = _random('rgb8', 480, 640)
    assert Image()._check_fields
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        msg = numpy_to_image(frame, 'rgb8')
        timings.append(time.perf_counter() - start)
    assert sorted(timings)[len(timings) // 2] < 0.01
    start = time.perf_counter()
    back = image_to_numpy(msg)
    assert time.perf_counter() - start < 0.01
    np.testing.assert_array_equal(back, frame)


# --- errors -------------------------------------------------------------------------------------

def _valid(encoding: str = 'rgb8') -> Image:
    return numpy_to_image(_random(encoding, 3, 5), encoding)


def test_unsupported_encoding_in_message() -> None:
    msg = _valid()
    msg.encoding = 'yuv422'
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'yuv422'"):
        image_to_numpy(msg)


def test_unsupported_encoding_for_array() -> None:
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'rgba8'"):
        numpy_to_image(np.zeros((2, 2, 4), np.uint8), 'rgba8')


def test_error_is_a_value_error() -> None:
    assert issubclass(ImageConversionError, ValueError)


@pytest.mark.parametrize(('height', 'width'), [(0, 5), (3, 0), (0, 0)])
def test_zero_size_message(height: int, width: int) -> None:
    msg = Image(height=height, width=width, encoding='mono8', step=width, data=b'')
    with pytest.raises(ImageConversionError, match='zero-size image'):
        image_to_numpy(msg)


def test_zero_size_array() -> None:
    with pytest.raises(ImageConversionError, match='zero-size image'):
        numpy_to_image(np.zeros((0, 4), np.uint8), 'mono8')


def test_step_smaller_than_row() -> None:
    msg = _valid('16UC1')  # width 5 -> 10 bytes per row
    msg.step = 9
    msg.data = bytes(3 * 9)
    with pytest.raises(ImageConversionError, match=r'step 9 is smaller than .*= 10'):
        image_to_numpy(msg)


@pytest.mark.parametrize('delta', [-1, 1])
def test_data_size_must_match_height_times_step(delta: int) -> None:
    msg = _valid('rgb8')  # 3 rows of 15 bytes
    msg.data = bytes(45 + delta)
    with pytest.raises(ImageConversionError, match=rf'data has {45 + delta} bytes but .*= 45'):
        image_to_numpy(msg)


@pytest.mark.parametrize(('array', 'encoding', 'pattern'), [
    (np.zeros((2, 3, 3), np.float32), 'rgb8', 'needs dtype uint8, got float32'),
    (np.zeros((2, 3), np.uint8), '16UC1', 'needs dtype uint16, got uint8'),
    (np.zeros((2, 3), np.float64), '32FC1', 'needs dtype float32, got float64'),
    (np.zeros((2, 3), np.uint8), 'bgr8', r'needs a HxWx3 array, got shape \(2, 3\)'),
    (np.zeros((2, 3, 4), np.uint8), 'rgb8', r'needs a HxWx3 array, got shape \(2, 3, 4\)'),
    (np.zeros((2, 3, 1), np.uint8), 'mono8', r'needs a HxW array, got shape \(2, 3, 1\)'),
    (np.zeros(6, np.uint8), 'mono8', r'needs a HxW array, got shape \(6,\)'),
])
def test_array_dtype_and_shape_are_validated(
    array: np.ndarray, encoding: str, pattern: str
) -> None:
    with pytest.raises(ImageConversionError, match=pattern):
        numpy_to_image(array, encoding)


def test_non_array_input_is_rejected() -> None:
    with pytest.raises(ImageConversionError, match='expected a numpy array, got list'):
        numpy_to_image([[0, 1]], 'mono8')  # type: ignore[arg-type]
