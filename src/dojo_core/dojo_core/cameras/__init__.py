"""Camera capture without ROS: OpenCV sources in a thread, camera_info calibration files.

camera_node (dojo_cameras) is the ROS face of these; recorders and tests use them directly.
"""
from dojo_core.cameras.camera_info import (
    CameraCalibration,
    CameraInfoError,
    camera_info_for,
    default_camera_info,
    load_camera_info,
    pinhole_calibration,
    resolve_camera_info_url,
)
from dojo_core.cameras.capture import CameraCapture, CaptureError, Frame
from dojo_core.cameras.config import CaptureConfig
from dojo_core.cameras.health import CaptureHealth, CaptureState, CaptureStats

__all__ = [
    'CameraCalibration',
    'CameraCapture',
    'CameraInfoError',
    'CaptureConfig',
    'CaptureError',
    'CaptureHealth',
    'CaptureState',
    'CaptureStats',
    'Frame',
    'camera_info_for',
    'default_camera_info',
    'load_camera_info',
    'pinhole_calibration',
    'resolve_camera_info_url',
]
