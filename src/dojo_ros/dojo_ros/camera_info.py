"""The one sensor_msgs/CameraInfo builder: camera_node (a calibration file or a default pinhole) and
sim_node (the rendered cameras' exact pinhole) publish what dojo_core.cameras.CameraCalibration holds."""
from __future__ import annotations

from sensor_msgs.msg import CameraInfo

from dojo_core.cameras.camera_info import CameraCalibration


def camera_info_msg(calibration: CameraCalibration, frame_id: str) -> CameraInfo:
    """The CameraInfo message of a calibration; the stamp is set per frame."""
    info = CameraInfo(width=calibration.width, height=calibration.height,
                      distortion_model=calibration.distortion_model, d=list(calibration.d),
                      k=list(calibration.k), r=list(calibration.r), p=list(calibration.p))
    info.header.frame_id = frame_id
    return info
