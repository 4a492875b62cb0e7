"""Camera intrinsics for camera_info: the camera_calibration YAML format, a default, and scaling.

The file format is the one ROS's ``camera_calibration`` writes and ``camera_info_manager`` reads::

    image_width: 640
    image_height: 480
    camera_name: front
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, t1, t2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [...]}
    projection_matrix: {rows: 3, cols: 4, data: [...]}

Every key but ``camera_name`` is required and checked (shape, finite numbers, positive focal
lengths, a coefficient count that suits the model), and every problem is reported with the file
name, so a typo in a calibration fails at start-up instead of skewing every 3-D estimate later.

Without a file, :func:`default_camera_info` gives an ideal pinhole from a horizontal field of view
(square pixels, centred principal point, no distortion).

Calibrating at one size and streaming at another: a calibration is *scaled* when the aspect ratio
is the same (a camera that bins or downsamples its sensor), and *rejected* when it differs, since
the camera then crops its sensor in a way the numbers cannot reveal; recalibrate at that size.
Pixel centres sit at integer coordinates (ROS and OpenCV convention), so a principal point scales
as ``(c + 0.5) * s - 0.5``, which matches what ``cv2.resize`` does to the image. Distortion
coefficients work on normalised coordinates and do not change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import yaml

from dojo_core.robot.description import share_dir

#: Distortion models of sensor_msgs/CameraInfo that camera_calibration writes, with their number
#: of coefficients.
DISTORTION_MODELS = {'plumb_bob': 5, 'rational_polynomial': 8, 'equidistant': 4}

#: Relative difference of width and height scale factors beyond which sizes count as another aspect ratio.
ASPECT_TOLERANCE = 0.01

_MATRICES = {'camera_matrix': (3, 3), 'rectification_matrix': (3, 3), 'projection_matrix': (3, 4)}


class CameraInfoError(ValueError):
    """A calibration that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class CameraCalibration:
    """The contents of a sensor_msgs/CameraInfo apart from the header, row-major as in the message."""

    width: int
    height: int
    camera_name: str
    distortion_model: str
    d: tuple[float, ...]
    k: tuple[float, ...]  # 3x3
    r: tuple[float, ...]  # 3x3
    p: tuple[float, ...]  # 3x4

    def scaled(self, width: int, height: int) -> CameraCalibration:
        """This calibration for images of ``width`` x ``height``; CameraInfoError if the aspect ratio differs."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        if abs(sx - sy) > ASPECT_TOLERANCE * max(sx, sy):
            raise CameraInfoError(
                f'camera {self.camera_name!r} was calibrated at {self.width}x{self.height} but streams '
                f'{width}x{height}, another aspect ratio: the camera crops its sensor, so the calibration '
                f'cannot be scaled; calibrate at {width}x{height}')
        k, p = list(self.k), list(self.p)
        k[0], k[2], k[4], k[5] = k[0] * sx, _centre(k[2], sx), k[4] * sy, _centre(k[5], sy)
        # P also holds the stereo baseline terms Tx = -fx' B and Ty, which scale with the focal lengths
        p[0], p[2], p[3] = p[0] * sx, _centre(p[2], sx), p[3] * sx
        p[5], p[6], p[7] = p[5] * sy, _centre(p[6], sy), p[7] * sy
        return replace(self, width=width, height=height, k=tuple(k), p=tuple(p))


def _centre(c: float, scale: float) -> float:
    """A principal point coordinate after resizing by ``scale`` (pixel centres at integers)."""
    return (c + 0.5) * scale - 0.5


def pinhole_calibration(width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                        camera_name: str = '') -> CameraCalibration:
    """An ideal pinhole (no distortion, R = identity, P = [K | 0]): a camera without a calibration
    file, and the sim cell's rendered cameras (sim_node), whose intrinsics are exact."""
    return CameraCalibration(
        width, height, camera_name, 'plumb_bob', (0.0,) * 5,
        k=(fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0),
        r=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        p=(fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0))


def default_camera_info(width: int, height: int, hfov_deg: float, camera_name: str = '') -> CameraCalibration:
    """An ideal pinhole with horizontal field of view ``hfov_deg``: square pixels, centred, no distortion."""
    if not 0.0 < hfov_deg < 180.0:
        raise CameraInfoError(f'horizontal field of view must be in (0, 180) degrees, got {hfov_deg}')
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    return pinhole_calibration(width, height, f, f, (width - 1) / 2, (height - 1) / 2, camera_name)


def resolve_camera_info_url(url: str) -> Path:
    """The file a camera_info URL names: ``file:///abs/path``, ``package://pkg/rel/path`` or a plain path."""
    parsed = urlparse(url)
    if parsed.scheme == 'file':
        return Path(parsed.netloc + parsed.path)
    if parsed.scheme == 'package':
        try:
            return share_dir(parsed.netloc) / parsed.path.lstrip('/')
        except FileNotFoundError as exc:
            raise CameraInfoError(f'camera_info URL {url}: {exc}') from None
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive, a plain path
        raise CameraInfoError(f'camera_info URL {url}: unsupported scheme {parsed.scheme!r}; use file://, '
                              'package:// or a path')
    return Path(url)


def load_camera_info(url: str | Path) -> CameraCalibration:
    """Read a camera_calibration YAML file (or URL, see :func:`resolve_camera_info_url`)."""
    path = resolve_camera_info_url(str(url))
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CameraInfoError(f'cannot read camera_info file {path}: {exc.strerror or exc}') from None
    except yaml.YAMLError as exc:
        raise CameraInfoError(f'camera_info file {path} is not valid YAML: {exc}') from None
    try:
        return _parse(data)
    except CameraInfoError as exc:
        raise CameraInfoError(f'camera_info file {path}: {exc}') from None


def camera_info_for(url: str, width: int, height: int, hfov_deg: float, camera_name: str) -> CameraCalibration:
    """The calibration a camera streaming ``width`` x ``height`` should publish: the file at ``url``
    scaled to that size, or the default pinhole when ``url`` is empty."""
    if not url:
        return default_camera_info(width, height, hfov_deg, camera_name)
    return load_camera_info(url).scaled(width, height)


def _parse(data: object) -> CameraCalibration:
    if not isinstance(data, dict):
        raise CameraInfoError(f'expected a mapping of calibration keys, got {type(data).__name__}')
    required = ['image_width', 'image_height', 'distortion_model', 'distortion_coefficients', *_MATRICES]
    missing = [key for key in required if key not in data]
    if missing:
        raise CameraInfoError(f'missing keys {missing}')
    width, height = (_positive_int(data, key) for key in ('image_width', 'image_height'))
    model = data['distortion_model']
    if model not in DISTORTION_MODELS:
        raise CameraInfoError(f'distortion_model {model!r} is not one of {sorted(DISTORTION_MODELS)}')
    n = DISTORTION_MODELS[model]
    d = _matrix(data, 'distortion_coefficients', (1, n))
    k, r, p = (_matrix(data, key, shape) for key, shape in _MATRICES.items())
    if k[0] <= 0 or k[4] <= 0 or p[0] <= 0 or p[5] <= 0:
        raise CameraInfoError(f'focal lengths must be positive: camera_matrix fx={k[0]}, fy={k[4]}, '
                              f'projection_matrix fx={p[0]}, fy={p[5]}')
    name = data.get('camera_name') or ''
    if not isinstance(name, str):
        raise CameraInfoError(f'camera_name must be a string, got {name!r}')
    return CameraCalibration(width, height, name, model, d, k, r, p)


def _positive_int(data: dict, key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CameraInfoError(f'{key} must be a positive integer, got {value!r}')
    return value


def _matrix(data: dict, key: str, shape: tuple[int, int]) -> tuple[float, ...]:
    entry = data[key]
    if not isinstance(entry, dict) or not {'rows', 'cols', 'data'} <= entry.keys():
        raise CameraInfoError(f'{key} must be a mapping with rows, cols and data, got {entry!r}')
    values = entry['data']
    if (entry['rows'], entry['cols']) != shape:
        raise CameraInfoError(f"{key} must be {shape[0]}x{shape[1]}, got {entry['rows']}x{entry['cols']}")
    if not isinstance(values, list) or len(values) != shape[0] * shape[1]:
        count = len(values) if isinstance(values, list) else values
        raise CameraInfoError(f'{key} data must list {shape[0] * shape[1]} numbers, got {count!r}')
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise CameraInfoError(f'{key} data must be finite numbers, got {values}')
    return tuple(float(v) for v in values)
