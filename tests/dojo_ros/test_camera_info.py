"""dojo_ros.camera_info: the one CameraInfo builder, fed by a calibration file, a default pinhole or the sim."""
from __future__ import annotations

import pytest

from dojo_core.cameras import default_camera_info, pinhole_calibration
from dojo_core.cameras.camera_info import CameraCalibration
from dojo_ros.camera_info import camera_info_msg


def test_the_message_carries_every_field_of_the_calibration():
    calibration = CameraCalibration(
        width=640, height=480, camera_name='front', distortion_model='plumb_bob', d=(0.1, -0.2, 0.0, 0.0, 0.03),
        k=(500.0, 0.0, 320.5, 0.0, 501.0, 240.5, 0.0, 0.0, 1.0), r=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        p=(499.0, 0.0, 321.0, 0.0, 0.0, 500.0, 241.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    info = camera_info_msg(calibration, 'front_camera_optical_frame')
    assert (info.width, info.height, info.distortion_model) == (640, 480, 'plumb_bob')
    assert list(info.d) == list(calibration.d) and list(info.k) == list(calibration.k)
    assert list(info.r) == list(calibration.r) and list(info.p) == list(calibration.p)
    assert info.header.frame_id == 'front_camera_optical_frame'
    assert (info.header.stamp.sec, info.header.stamp.nanosec) == (0, 0)  # stamped per frame by the node


def test_a_pinhole_has_no_distortion_and_projects_with_k():
    info = camera_info_msg(pinhole_calibration(96, 72, 80.0, 81.0, 47.5, 35.5), 'wrist_camera_optical_frame')
    assert list(info.k) == [80.0, 0.0, 47.5, 0.0, 81.0, 35.5, 0.0, 0.0, 1.0]
    assert list(info.p) == [80.0, 0.0, 47.5, 0.0, 0.0, 81.0, 35.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert list(info.d) == [0.0] * 5 and list(info.r) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_the_default_camera_is_the_centred_square_pixel_pinhole_of_its_field_of_view():
    default, pinhole = default_camera_info(640, 480, 90.0, 'usb'), pinhole_calibration(640, 480, 320.0, 320.0, 319.5,
                                                                                        239.5, 'usb')
    assert default.k == pytest.approx(pinhole.k) and default.p == pytest.approx(pinhole.p)
    assert (default.width, default.height, default.camera_name, default.d, default.r) == \
        (pinhole.width, pinhole.height, pinhole.camera_name, pinhole.d, pinhole.r)
    with pytest.raises(ValueError, match='field of view'):
        default_camera_info(640, 480, 0.0)
