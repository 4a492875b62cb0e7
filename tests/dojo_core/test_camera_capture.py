"""dojo_core.cameras: the capture thread on real video files, its health counters, camera_info files."""
from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from dojo_core.cameras import (
    CameraCapture,
    CameraInfoError,
    CaptureConfig,
    CaptureHealth,
    CaptureState,
    camera_info_for,
    default_camera_info,
    load_camera_info,
    resolve_camera_info_url,
)
from dojo_core.cameras.pattern import read_frame_counter, write_pattern_video
from dojo_core.robot.description import share_dir

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CALIBRATION = REPO / 'config' / 'cameras' / 'front.yaml'


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture(scope='module')
def clip(tmp_path_factory) -> Path:
    """Five 160x120 pattern frames: loops come quickly even at a modest replay rate."""
    return write_pattern_video(tmp_path_factory.mktemp('video') / 'clip.avi', 160, 120, 30, 5)


def file_config(path: Path, **overrides) -> CaptureConfig:
    settings = dict(device=str(path), width=160, height=120, fps=200.0, reopen_interval_s=0.02,
                    reopen_max_interval_s=0.1)
    return CaptureConfig(**{**settings, **overrides})


# -- capture -------------------------------------------------------------------------------------

def test_frames_are_rgb_of_configured_size_stamped_by_the_injected_clock_and_looped(clip):
    ticks = itertools.count(1_000_000)
    frames = []
    with CameraCapture(file_config(clip), clock=lambda: next(ticks)) as capture:
        while len(frames) < 200 and (not frames or frames[-1].sequence < 12):
            frame = capture.wait_for_frame(timeout_s=5.0)
            assert frame is not None, capture.stats()
            frames.append(frame)
    for frame in frames:
        assert frame.image.shape == (120, 160, 3) and frame.image.dtype == np.uint8
        r, g, b = frame.image[100, 10]
        assert r > 200 and g < 50 and b < 50, 'pure red frame arrived with swapped channels'
        # the file has 5 frames and loops: capture number n shows frame n mod 5
        assert read_frame_counter(frame.image) == frame.sequence % 5
    stamps = [f.stamp_ns for f in frames]
    assert stamps[0] >= 1_000_000 and all(a < b for a, b in zip(stamps, stamps[1:]))
    assert frames[-1].sequence >= 12
    assert capture.stats().state is CaptureState.STOPPED


def test_frames_of_another_size_are_resized_and_the_mismatch_reported(tmp_path):
    big = write_pattern_video(tmp_path / 'big.avi', 320, 240, 30, 3)
    with CameraCapture(file_config(big)) as capture:
        frame = capture.wait_for_frame(timeout_s=5.0)
        stats = capture.stats()
    assert frame is not None and frame.image.shape == (120, 160, 3)
    assert read_frame_counter(frame.image) == frame.sequence % 3
    assert stats.source.startswith('320x240')
    assert '320x240 images instead of 160x120' in stats.mismatch


def test_frames_nobody_takes_are_dropped_and_only_the_newest_is_kept(clip):
    capture = CameraCapture(file_config(clip)).start()
    try:
        assert wait_until(lambda: capture.stats().frames >= 10), capture.stats()
    finally:
        capture.stop()
    stats = capture.stats()
    newest = capture.latest_frame()
    assert newest is not None and newest.sequence == stats.frames - 1
    assert stats.dropped == stats.frames - 1
    assert capture.latest_frame() is None, 'a frame is handed out once'


def test_without_loop_the_capture_ends_after_the_last_frame(clip):
    with CameraCapture(file_config(clip, loop=False)) as capture:
        assert wait_until(lambda: capture.stats().state is CaptureState.ENDED), capture.stats()
        stats = capture.stats()
    assert stats.frames == 5 and stats.read_failures == 0 and stats.last_error == ''


def test_missing_file_is_reported_and_read_once_it_appears(tmp_path):
    target = tmp_path / 'later.avi'
    with CameraCapture(file_config(target)) as capture:
        assert capture.wait_for_frame(timeout_s=0.05) is None
        assert wait_until(lambda: capture.stats().reopen_attempts >= 2), capture.stats()
        stats = capture.stats()
        assert stats.state is CaptureState.RECONNECTING
        assert stats.last_error == f'video file {target} does not exist'
        write_pattern_video(tmp_path / 'staging.avi', 160, 120, 30, 5).rename(target)
        frame = capture.wait_for_frame(timeout_s=10.0)
        assert frame is not None and frame.image.shape == (120, 160, 3)
        assert capture.stats().state is CaptureState.STREAMING


def test_unreadable_file_is_reported_and_retried_without_raising(tmp_path):
    junk = tmp_path / 'junk.avi'
    junk.write_bytes(b'not a video at all' * 100)
    with CameraCapture(file_config(junk)) as capture:
        assert wait_until(lambda: capture.stats().reopen_attempts >= 2), capture.stats()
        stats = capture.stats()
    assert stats.state is CaptureState.RECONNECTING and stats.frames == 0
    assert str(junk) in stats.last_error
    assert 'cannot open' in stats.last_error or 'no readable frame' in stats.last_error


@pytest.mark.parametrize('device, error', [
    ('/dev/video_dojo_absent', 'camera device /dev/video_dojo_absent does not exist (unplugged?)'),
    ('63', 'cannot open camera 63: missing, busy in another program, or no permission'),
])
def test_missing_camera_is_reported_while_the_thread_keeps_trying(device, error):
    with CameraCapture(CaptureConfig(device=device, reopen_interval_s=0.02, reopen_max_interval_s=0.05)) as capture:
        assert wait_until(lambda: capture.stats().reopen_attempts >= 1), capture.stats()
        stats = capture.stats()
        assert stats.state is CaptureState.RECONNECTING and stats.last_error.startswith(error)
        assert capture.latest_frame() is None


def test_consumers_never_wait_on_a_stuck_source(tmp_path):
    """A FIFO with no writer blocks the capture thread inside OpenCV's open; the consumer still gets answers."""
    fifo = tmp_path / 'stuck.avi'
    os.mkfifo(fifo)
    capture = CameraCapture(file_config(fifo, reopen_interval_s=1.0, reopen_max_interval_s=1.0)).start()
    try:
        assert capture.latest_frame() is None
        assert capture.wait_for_frame(timeout_s=0.05) is None
        assert capture.stats().state is CaptureState.OPENING
    finally:
        writer = os.open(fifo, os.O_WRONLY)  # releases the blocked open, which then fails on this junk
        os.write(writer, b'not a video')
        os.close(writer)
        fifo.unlink()
        assert wait_until(lambda: capture.stats().state is CaptureState.RECONNECTING), capture.stats()
        capture.stop()


# -- configuration -------------------------------------------------------------------------------

def test_device_strings_select_camera_or_file():
    assert not CaptureConfig(device='0').is_file
    assert not CaptureConfig(device='/dev/v4l/by-id/usb-cam-video-index0').is_file
    assert CaptureConfig(device='clips/episode_3.mp4').is_file
    with pytest.raises(ValueError, match='device is empty'):
        CaptureConfig(device=' ')
    with pytest.raises(ValueError, match='fourcc must be 4 characters'):
        CaptureConfig(fourcc='MJPEG')
    with pytest.raises(ValueError, match='reopen_max_interval_s'):
        CaptureConfig(reopen_interval_s=2.0, reopen_max_interval_s=1.0)


# -- health counters (synthetic timestamps) ------------------------------------------------------

def test_health_counts_late_frames_and_measures_the_rate_over_its_window():
    health = CaptureHealth(fps=10.0, window_s=2.0)
    for t in (0.0, 0.1, 0.2, 0.3, 0.4):
        health.frame(t)
    health.frame(0.7)                  # 0.3 s after the previous frame: more than 1.5 periods
    health.frame(0.84)                 # 0.14 s: within 1.5 periods
    stats = health.snapshot(now=0.84)
    assert (stats.frames, stats.late) == (7, 1)
    assert stats.fps == pytest.approx(6 / 0.84)
    health.restart()                   # re-opened: the gap before the next frame is not lateness
    health.frame(5.0)
    stats = health.snapshot(now=5.0)
    assert stats.late == 1 and stats.fps == 0.0   # one frame in the window: no rate yet
    assert health.snapshot(now=20.0).fps == 0.0


def test_health_reports_state_source_and_failure_counters():
    health = CaptureHealth(fps=30.0)
    assert health.snapshot(0.0).state is CaptureState.OPENING
    health.dropped()
    health.read_failure()
    health.read_failure()
    health.reopen_attempt()
    health.set_state(CaptureState.RECONNECTING, 'camera unplugged')
    health.set_source('1280x720 @ 30 fps', '1280x720 images instead of 640x480 (resized)')
    stats = health.snapshot(0.0)
    assert (stats.dropped, stats.read_failures, stats.reopen_attempts) == (1, 2, 1)
    assert (stats.state, stats.last_error) == (CaptureState.RECONNECTING, 'camera unplugged')
    assert stats.source == '1280x720 @ 30 fps' and 'resized' in stats.mismatch


# -- camera_info ---------------------------------------------------------------------------------

def test_example_calibration_loads_with_every_field():
    calibration = load_camera_info(EXAMPLE_CALIBRATION)
    raw = yaml.safe_load(EXAMPLE_CALIBRATION.read_text())
    assert (calibration.width, calibration.height) == (raw['image_width'], raw['image_height'])
    assert calibration.camera_name == raw['camera_name']
    assert calibration.distortion_model == raw['distortion_model'] == 'plumb_bob'
    assert list(calibration.k) == raw['camera_matrix']['data']
    assert list(calibration.d) == raw['distortion_coefficients']['data']
    assert list(calibration.r) == raw['rectification_matrix']['data']
    assert list(calibration.p) == raw['projection_matrix']['data']
    assert load_camera_info(f'file://{EXAMPLE_CALIBRATION}') == calibration


def _broken(mutate: Callable[[dict], None]) -> dict:
    data = yaml.safe_load(EXAMPLE_CALIBRATION.read_text())
    mutate(data)
    return data


BROKEN = {
    'missing key': (lambda d: d.pop('projection_matrix'), "missing keys ['projection_matrix']"),
    'bad width': (lambda d: d.update(image_width=-640), 'image_width must be a positive integer'),
    'matrix shape': (lambda d: d['camera_matrix'].update(rows=2), 'camera_matrix must be 3x3, got 2x3'),
    'data count': (lambda d: d['projection_matrix']['data'].pop(), 'projection_matrix data must list 12 numbers'),
    'not numbers': (lambda d: d['camera_matrix']['data'].__setitem__(0, 'fx'), 'camera_matrix data must be finite'),
    'not finite': (lambda d: d['rectification_matrix']['data'].__setitem__(0, math.inf),
                   'rectification_matrix data must be finite'),
    'no rows/cols': (lambda d: d.update(camera_matrix=[1.0] * 9), 'camera_matrix must be a mapping with rows'),
    'unknown model': (lambda d: d.update(distortion_model='fisheye62'), "distortion_model 'fisheye62' is not one of"),
    'coefficients for model': (lambda d: d.update(distortion_model='rational_polynomial'),
                               'distortion_coefficients must be 1x8, got 1x5'),
    'focal length': (lambda d: d['camera_matrix']['data'].__setitem__(0, 0.0), 'focal lengths must be positive'),
}


@pytest.mark.parametrize('case', BROKEN, ids=list(BROKEN))
def test_broken_calibrations_name_the_file_and_the_problem(tmp_path, case):
    mutate, message = BROKEN[case]
    path = tmp_path / 'camera.yaml'
    path.write_text(yaml.safe_dump(_broken(mutate)))
    with pytest.raises(CameraInfoError) as info:
        load_camera_info(path)
    assert str(info.value).startswith(f'camera_info file {path}: ') and message in str(info.value)


def test_unreadable_calibration_files_are_clear_errors(tmp_path):
    with pytest.raises(CameraInfoError, match='cannot read camera_info file .*absent.yaml'):
        load_camera_info(tmp_path / 'absent.yaml')
    (tmp_path / 'bad.yaml').write_text('camera_matrix: [1, 2\nimage_width: 3')
    with pytest.raises(CameraInfoError, match='bad.yaml is not valid YAML'):
        load_camera_info(tmp_path / 'bad.yaml')
    (tmp_path / 'list.yaml').write_text('- 1\n- 2\n')
    with pytest.raises(CameraInfoError, match='expected a mapping of calibration keys, got list'):
        load_camera_info(tmp_path / 'list.yaml')


def test_camera_info_urls_resolve_like_camera_info_manager():
    assert resolve_camera_info_url('file:///etc/cameras/front.yaml') == Path('/etc/cameras/front.yaml')
    assert resolve_camera_info_url('config/front.yaml') == Path('config/front.yaml')
    assert resolve_camera_info_url('package://dojo_bringup/config/cameras/front.yaml') == \
        share_dir('dojo_bringup') / 'config' / 'cameras' / 'front.yaml'
    with pytest.raises(CameraInfoError, match="package 'no_such_package' is not installed"):
        resolve_camera_info_url('package://no_such_package/front.yaml')
    with pytest.raises(CameraInfoError, match="unsupported scheme 'http'"):
        resolve_camera_info_url('http://example.org/front.yaml')


def test_scaling_follows_the_resized_image_and_rejects_another_aspect_ratio():
    calibration = load_camera_info(EXAMPLE_CALIBRATION)
    half = calibration.scaled(320, 240)
    k, k2, p, p2 = calibration.k, half.k, calibration.p, half.p
    assert (half.width, half.height) == (320, 240)
    assert (k2[0], k2[4], p2[0], p2[5]) == pytest.approx((k[0] / 2, k[4] / 2, p[0] / 2, p[5] / 2))
    # a point projected by the scaled model lands where cv2.resize moves its pixel: (u + 0.5) s - 0.5
    x, y, z = 0.12, -0.05, 0.8
    for model, scaled in ((k, k2), (p, p2)):
        cx, cy = (2, 5) if model is k else (2, 6)
        fx, fy = (0, 4) if model is k else (0, 5)
        u, v = model[fx] * x / z + model[cx], model[fy] * y / z + model[cy]
        u2, v2 = scaled[fx] * x / z + scaled[cx], scaled[fy] * y / z + scaled[cy]
        assert (u2, v2) == pytest.approx(((u + 0.5) / 2 - 0.5, (v + 0.5) / 2 - 0.5))
    assert half.d == calibration.d and half.r == calibration.r
    assert calibration.scaled(640, 480) is calibration
    with pytest.raises(CameraInfoError, match='calibrated at 640x480 but streams 640x360, another aspect ratio'):
        calibration.scaled(640, 360)


def test_default_camera_info_is_an_ideal_pinhole_with_the_given_field_of_view():
    info = default_camera_info(640, 480, hfov_deg=90.0, camera_name='wrist')
    assert info.k == pytest.approx((320.0, 0.0, 319.5, 0.0, 320.0, 239.5, 0.0, 0.0, 1.0))
    assert info.p == pytest.approx((320.0, 0.0, 319.5, 0.0, 0.0, 320.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0))
    assert info.d == (0.0,) * 5 and info.distortion_model == 'plumb_bob' and info.camera_name == 'wrist'
    assert camera_info_for('', 640, 480, 90.0, 'wrist') == info
    assert camera_info_for(str(EXAMPLE_CALIBRATION), 320, 240, 90.0, 'front').width == 320
    with pytest.raises(CameraInfoError, match='field of view must be in'):
        default_camera_info(640, 480, hfov_deg=180.0)
