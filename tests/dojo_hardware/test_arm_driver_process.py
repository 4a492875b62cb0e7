"""arm_driver processes that start themselves (autostart) and end: Ctrl-C and the shutdown transition
turn torque off; a Koch arm (Dynamixel, calibration read from the servos) does the round trip."""
from __future__ import annotations

import time

import pytest
from lifecycle_msgs.msg import Transition
from sensor_msgs.msg import JointState

from dojo_core.motors.emulator import BusEmulator
from dojo_core.robot.description import JOINT_NAMES
from dojo_ros.process import NodeProcess
from dojo_ros.qos import COMMAND_QOS, SENSOR_QOS

pytestmark = pytest.mark.slow  # arm_driver as a subprocess on an emulated bus, stopped by signals

KOCH_MODELS = {1: 'xl430-w250', 2: 'xl430-w250', 3: 'xl330-m288', 4: 'xl330-m288', 5: 'xl330-m288', 6: 'xl330-m288'}


@pytest.fixture(scope='module')
def arm(probe):
    probe.listen('joint_states', JointState, SENSOR_QOS)
    probe.commands = probe.create_publisher(JointState, 'joint_commands', COMMAND_QOS)
    return probe


def torque(emulator) -> list[int]:
    return [emulator.servo(i).get('Torque_Enable') for i in range(1, 7)]


def test_autostart_activates_and_ctrl_c_turns_torque_off(arm, calibration, hardware_config, tmp_path):
    follower = calibration('so101_follower.json')
    with BusEmulator('feetech', range(1, 7), link=tmp_path / 'ttySO101') as emulator:
        follower.store_in(emulator)
        log = tmp_path / 'arm_driver.log'
        driver = NodeProcess('dojo_hardware.arm_driver', params_file=hardware_config / 'so101_feetech.yaml',
                             log_path=log, parameters={'port': emulator.port, 'calibration_file': str(follower.path),
                                                       'latency_timer_ms': 50.0, 'autostart': True}).start()
        try:
            assert arm.spin_until(lambda: torque(emulator) == [1] * 6, 20), log.read_text()
            assert arm.lifecycle_state('arm_driver') == 'active'
            arm.fresh('joint_states')
        finally:
            code = driver.stop()  # SIGINT
        assert code == 0, log.read_text()
        assert torque(emulator) == [0] * 6


def test_dynamixel_round_trip_with_the_stored_calibration_then_shutdown_turns_torque_off(
        arm, calibration, hardware_config, tmp_path):
    koch = calibration('koch_follower.json')  # stored in the servos; koch_dynamixel.yaml names no file
    with BusEmulator('dynamixel', KOCH_MODELS, model=KOCH_MODELS, link=tmp_path / 'ttyKOCH') as emulator:
        koch.store_in(emulator)
        wrist = emulator.servo(4)
        wrist.hand_move(round(koch.mid('wrist_flex')) + 100)
        log = tmp_path / 'arm_driver.log'
        driver = NodeProcess('dojo_hardware.arm_driver', params_file=hardware_config / 'koch_dynamixel.yaml',
                             log_path=log, parameters={'port': emulator.port, 'latency_timer_ms': 50.0,
                                                       'autostart': True}).start()
        try:
            assert arm.spin_until(lambda: torque(emulator) == [1] * 6, 20), log.read_text()
            msg = arm.fresh('joint_states')
            assert list(msg.name) == list(JOINT_NAMES)
            assert arm.positions('joint_states', ['wrist_flex'])[0] == pytest.approx(100 / koch.ticks_per_rad, abs=1e-9)
            # elbow_flex is inverted (drive_mode 1) by the servo itself: same ticks for the same angle.
            arm.commands.publish(JointState(name=['shoulder_pan', 'elbow_flex'], position=[0.4, 0.4]))
            expected = [koch.ticks('shoulder_pan', 0.4), koch.ticks('elbow_flex', 0.4)]
            assert arm.spin_until(lambda: [emulator.servo(i).raw(116, 4) for i in (1, 3)] == expected), \
                [emulator.servo(i).get('Goal_Position') for i in (1, 3)]
            assert arm.spin_until(lambda: abs(arm.positions('joint_states', ['elbow_flex'])[0] - 0.4) < 2e-3)
            assert arm.transition('arm_driver', Transition.TRANSITION_ACTIVE_SHUTDOWN)
            assert torque(emulator) == [0] * 6
            assert arm.lifecycle_state('arm_driver') == 'finalized'
        finally:
            code = driver.stop()
        assert code == 0, log.read_text()


def test_configure_fails_cleanly_on_a_missing_port_and_bad_transitions_are_refused(arm, hardware_config, tmp_path):
    log = tmp_path / 'arm_driver.log'
    driver = NodeProcess('dojo_hardware.arm_driver', params_file=hardware_config / 'so101_feetech.yaml', log_path=log,
                         parameters={'port': str(tmp_path / 'ttyNONE'), 'diagnostics_period_s': 0.2}).start()
    try:
        assert not arm.transition('arm_driver', Transition.TRANSITION_ACTIVATE)  # not configured yet
        assert not arm.transition('arm_driver', Transition.TRANSITION_CONFIGURE)
        assert arm.lifecycle_state('arm_driver') == 'unconfigured'
        status = arm.wait_for_status('arm_driver: bus', lambda s: True)
        assert status.message == 'unconfigured: not connected'
        assert 'cannot open motor bus port' in log.read_text() and driver.alive()
    finally:
        code = driver.stop()
    assert code == 0, log.read_text()


def test_a_max_step_below_one_tick_fails_configure_with_torque_off(calibration, hardware_config, tmp_path):
    follower = calibration('so101_follower.json')
    with BusEmulator('feetech', range(1, 7), link=tmp_path / 'ttySO101') as emulator:
        follower.store_in(emulator)
        log = tmp_path / 'arm_driver.log'
        driver = NodeProcess('dojo_hardware.arm_driver', params_file=hardware_config / 'so101_feetech.yaml',
                             log_path=log, parameters={'port': emulator.port, 'calibration_file': str(follower.path),
                                                       'latency_timer_ms': 50.0, 'autostart': True,
                                                       'max_step_rad': 0.001}).start()  # a tick is 0.0015 rad
        try:
            deadline = time.monotonic() + 30
            while 'configure failed' not in log.read_text() and driver.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "max_step_rad 0.001 is below one servo tick of ['shoulder_pan'" in log.read_text(), log.read_text()
            assert torque(emulator) == [0] * 6 and driver.alive()
        finally:
            code = driver.stop()
        assert code == 0, log.read_text()


def test_bad_parameters_stop_the_process_with_the_reason(hardware_config, tmp_path):
    log = tmp_path / 'arm_driver.log'
    driver = NodeProcess('dojo_hardware.arm_driver', params_file=hardware_config / 'so101_feetech.yaml', log_path=log,
                         parameters={'motor_ids': [1, 2, 3]}).start()
    assert driver.process.wait(30) == 1
    assert 'motor_ids needs one id per joint' in log.read_text()
