"""`dojo calibrate` against the emulated arm: an operator (a thread) moves the joints while it records."""
from __future__ import annotations

import argparse
import io
import threading
import time

import numpy as np
import pytest

from dojo_core.cli import main
from dojo_core.motors import MotorBusConfig, load_calibration, make_bus
from dojo_core.motors.calibrate import CalibrateVerb
from dojo_core.motors.emulator import BusEmulator
from dojo_core.robot.description import JOINT_NAMES

LATENCY = ['--latency-timer-ms', '50']  # generous packet timeouts: the emulator shares a loaded CI host
ENCODER = {i: 1000 + 400 * i for i in range(1, 7)}  # the arm's middle pose, as raw encoder readings
SWING = {i: 300 + 50 * i for i in range(1, 7)}  # how far the operator moves each joint either way


class Operator:
    """Waits until homing has centred every joint at 2047, then swings each joint to both ends of its
    travel and holds there a moment (so the 50 Hz sampling sees the extremes), until stopped."""

    def __init__(self, emulator: BusEmulator, protocol: str):
        self.emulator, self.protocol = emulator, protocol
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def homed(self) -> bool:
        sign = 1 if self.protocol == 'feetech' else -1  # Feetech subtracts the offset, Dynamixel adds it
        return all(self.emulator.servo(i).get('Homing_Offset') == sign * (ENCODER[i] - 2047) for i in ENCODER)

    def _run(self) -> None:
        while not self.homed() and not self.stop.is_set():
            time.sleep(0.005)
        while not self.stop.is_set():
            for side in (-1, 1):
                for i, servo in self.emulator.servos.items():
                    servo.hand_move(2047 + side * SWING[i])
                self.stop.wait(0.1)

    def __enter__(self) -> 'Operator':
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)


def check_calibration(path, protocol: str, full_turn=('wrist_roll',)) -> dict:
    calibration = load_calibration(path)
    assert list(calibration) == list(JOINT_NAMES)
    for motor_id, (name, motor) in enumerate(calibration.items(), start=1):
        assert motor.id == motor_id and motor.drive_mode == 0
        sign = 1 if protocol == 'feetech' else -1
        assert motor.homing_offset == sign * (ENCODER[motor_id] - 2047)
        if name in full_turn:
            assert (motor.range_min, motor.range_max) == (0, 4095)
        else:
            assert (motor.range_min, motor.range_max) == (2047 - SWING[motor_id], 2047 + SWING[motor_id])
    return calibration


@pytest.mark.parametrize('protocol', ['feetech', 'dynamixel'])
def test_non_interactive_run_writes_a_valid_calibration(tmp_path, protocol, capsys):
    out = tmp_path / 'arm.json'
    with BusEmulator(protocol, range(1, 7), positions=ENCODER) as emulator:
        with Operator(emulator, protocol):
            assert main(['calibrate', '--port', emulator.port, '--protocol', protocol, '--duration', '1.0',
                         *LATENCY, '-o', str(out)]) == 0
        calibration = check_calibration(out, protocol)
        # The servos hold it too, and a bus loaded with the file reads the middle pose as zero.
        assert emulator.servo(2).get('Min_Position_Limit') == calibration['shoulder_lift'].range_min
        assert all(emulator.servo(i).get('Torque_Enable') == 0 for i in range(1, 7))
        for servo in emulator.servos.values():
            servo.hand_move(2047)
        model = 'sts3215' if protocol == 'feetech' else 'xl430-w250'
        motors = {name: (i + 1, model) for i, name in enumerate(JOINT_NAMES)}
        config = MotorBusConfig(port=emulator.port, protocol=protocol, motors=motors, latency_timer_ms=50)
        with make_bus(config, calibration) as bus:
            positions = bus.read_positions()
    np.testing.assert_allclose(positions[:5], 0.0, atol=2 * np.pi / 4096)
    assert 'calibration written to' in capsys.readouterr().out


def test_interactive_run_with_injected_input(tmp_path):
    prompts = []
    out = io.StringIO()
    with BusEmulator('feetech', range(1, 7), positions=ENCODER) as emulator:
        operator = Operator(emulator, 'feetech')

        def answer(prompt: str) -> str:
            prompts.append(prompt)
            if len(prompts) == 2:  # "move every joint through its travel": do it, then press Enter
                with operator:
                    time.sleep(0.5)
            return ''

        verb = CalibrateVerb(input_fn=answer, out=out)
        parser = argparse.ArgumentParser()
        verb.add_arguments(parser)
        args = parser.parse_args(['--port', emulator.port, '--full-turn', *LATENCY, '-o', str(tmp_path / 'cal.json')])
        assert verb.main(args) == 0
    assert 'middle' in prompts[0] and 'full travel' in prompts[1]
    check_calibration(tmp_path / 'cal.json', 'feetech', full_turn=())


def test_a_joint_that_never_moved_fails_clearly(tmp_path, capsys):
    with BusEmulator('feetech', range(1, 7), positions=ENCODER) as emulator:
        assert main(['calibrate', '--port', emulator.port, '--duration', '0.1', *LATENCY,
                     '-o', str(tmp_path / 'x.json')]) == 1
    assert "did not move" in capsys.readouterr().err
    assert not (tmp_path / 'x.json').exists()


def test_missing_port_fails_clearly(tmp_path, capsys):
    assert main(['calibrate', '--port', str(tmp_path / 'ttyNONE'), '--duration', '1', '-o', str(tmp_path / 'x')]) == 1
    assert 'cannot open motor bus port' in capsys.readouterr().err
