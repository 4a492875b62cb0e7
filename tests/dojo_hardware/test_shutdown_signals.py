"""Whatever signals end a hardware node, its shutdown completes: torque off, port released, exit 0.

`ros2 launch` forwards the terminal's Ctrl-C, so a node gets SIGINT twice a few ms apart (and
SIGTERM after its sigterm_timeout); the second signal lands while the node is turning torque off,
servo by servo. Each case starts a real node process (python -m) on the emulated STS3215 bus of
this process, sends two signals at several gaps, then reads the servos' Torque_Enable registers.
"""
from __future__ import annotations

import signal
import time

import pytest

from dojo_core.motors.emulator import BusEmulator
from dojo_ros.process import NodeProcess

pytestmark = pytest.mark.slow  # arm_driver and leader_arm processes sent two signals

# (first, second): Ctrl-C under launch, Ctrl-C then launch's escalation, `kill` twice, `kill` then Ctrl-C
SIGNAL_PAIRS = [(signal.SIGINT, signal.SIGINT), (signal.SIGINT, signal.SIGTERM),
                (signal.SIGTERM, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)]
GAPS_S = (0.001, 0.003, 0.008, 0.02)  # the second signal lands before, in and after the torque-off writes


def pair_id(pair: tuple[signal.Signals, signal.Signals]) -> str:
    return '+'.join(s.name for s in pair)


@pytest.fixture(scope='module')
def emulator(calibration, tmp_path_factory):
    with BusEmulator('feetech', range(1, 7), link=tmp_path_factory.mktemp('bus') / 'ttySO101') as emulator:
        calibration('so101_follower.json').store_in(emulator)
        yield emulator


def torque(emulator) -> list[int]:
    return [emulator.servo(i).get('Torque_Enable') for i in range(1, 7)]


def wait_for(predicate, process: NodeProcess, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.alive():
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.mark.parametrize('first, second', SIGNAL_PAIRS, ids=map(pair_id, SIGNAL_PAIRS))
def test_arm_driver_turns_torque_off_whatever_signals_arrive_during_shutdown(
        first, second, emulator, calibration, hardware_config, signal_twice, tmp_path):
    follower = calibration('so101_follower.json')
    for gap_s in GAPS_S:
        log = tmp_path / f'arm_driver_{gap_s}.log'
        driver = NodeProcess('dojo_hardware.arm_driver', params_file=hardware_config / 'so101_feetech.yaml',
                             log_path=log, parameters={'port': emulator.port, 'calibration_file': str(follower.path),
                                                       'latency_timer_ms': 50.0, 'autostart': True}).start()
        try:
            assert wait_for(lambda: torque(emulator) == [1] * 6, driver), f'{emulator.stats}\n{log.read_text()}'
            code = signal_twice(driver, first, second, gap_s)
        finally:
            driver.stop()
        text = log.read_text()
        assert (code, torque(emulator)) == (0, [0] * 6), f'gap {gap_s * 1e3:g} ms:\n{text}'
        assert 'torque off, disconnected' in text and 'Traceback' not in text, text


@pytest.mark.parametrize('first, second', SIGNAL_PAIRS[:2], ids=map(pair_id, SIGNAL_PAIRS[:2]))
def test_leader_arm_releases_the_port_whatever_signals_arrive_during_shutdown(
        first, second, emulator, calibration, hardware_config, signal_twice, tmp_path):
    follower = calibration('so101_follower.json')  # what the servos hold; a leader reads any calibrated bus
    for gap_s in GAPS_S:
        log = tmp_path / f'leader_arm_{gap_s}.log'
        node = NodeProcess('dojo_hardware.leader_arm', params_file=hardware_config / 'so101_feetech.yaml',
                           log_path=log, parameters={'port': emulator.port, 'calibration_file': str(follower.path),
                                                     'latency_timer_ms': 50.0}).start()
        try:
            assert wait_for(lambda: 'connected, torque off' in log.read_text(), node), log.read_text()
            code = signal_twice(node, first, second, gap_s)
        finally:
            node.stop()
        text = log.read_text()
        assert code == 0 and 'Traceback' not in text, f'gap {gap_s * 1e3:g} ms, exit {code}:\n{text}'
