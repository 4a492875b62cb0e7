"""`dojo calibrate`: record an arm's calibration (homing offsets and joint ranges) into LeRobot's JSON.

The procedure is LeRobot's, so the file means the same thing to both tools:

1. torque off; the operator puts every joint in the middle of its travel;
2. each servo's calibration registers are reset (offset 0, full range, chosen direction), its
   position read, and the Homing_Offset written that makes it read half a turn (2047) there;
3. the operator moves every joint through its whole travel while positions are polled; the
   extremes become range_min/range_max. Full-turn joints (default: wrist_roll, which can spin
   freely) get the whole turn, 0..4095, instead;
4. the calibration is written to the servos (Min/Max_Position_Limit) and to the JSON file.

Interactive by default (Enter ends each step; `input_fn` is injectable for tests); `--duration S`
runs without prompts: the present pose is taken as the middle, and ranges are recorded for S s.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Callable, Mapping, Sequence, TextIO

from dojo_core.motors import MotorBusConfig, make_bus
from dojo_core.motors.bus import MotorBus
from dojo_core.motors.calibration import MotorCalibration, save_calibration
from dojo_core.motors.errors import MotorBusError
from dojo_core.motors.tables import DEFAULT_MODEL, FEETECH, PROTOCOLS
from dojo_core.robot.description import JOINT_NAMES

POLL_PERIOD = 0.02  # s between position samples while recording ranges


def home(bus: MotorBus, drive_modes: Mapping[str, int] | None = None) -> dict[str, MotorCalibration]:
    """Steps 1-2: homing offsets that centre every joint's present position at half a turn."""
    drive_modes = drive_modes or {}
    full = {j: bus.models[j].resolution - 1 for j in bus.names}
    factory = {j: MotorCalibration(bus.ids[j], drive_modes.get(j, 0), 0, 0, full[j]) for j in bus.names}
    bus.apply_calibration(factory)
    present = bus.sync_read('Present_Position')
    homed = {j: MotorCalibration(bus.ids[j], factory[j].drive_mode, bus.homing_offset_for(present[j]), 0, full[j])
             for j in bus.names}
    bus.apply_calibration(homed)
    return homed


def record_ranges(bus: MotorBus, joints: Sequence[str], stop: Callable[[], bool],
                  on_sample: Callable[[dict[str, int], dict[str, int], dict[str, int]], None] | None = None
                  ) -> tuple[dict[str, int], dict[str, int]]:
    """Step 3: poll Present_Position of `joints` until `stop()`; the lowest and highest readings."""
    mins = bus.sync_read('Present_Position', joints)
    maxes = dict(mins)
    while not stop():
        present = bus.sync_read('Present_Position', joints)
        for joint, value in present.items():
            mins[joint], maxes[joint] = min(mins[joint], value), max(maxes[joint], value)
        if on_sample is not None:
            on_sample(present, mins, maxes)
        time.sleep(POLL_PERIOD)
    still = [j for j in joints if mins[j] == maxes[j]]
    if still:
        raise ValueError(f'joints {still} did not move while recording ranges; move each through its full travel')
    return mins, maxes


def calibrate(bus: MotorBus, *, begin_recording: Callable[[], Callable[[], bool]],
              full_turn: Sequence[str] = ('wrist_roll',), drive_modes: Mapping[str, int] | None = None,
              on_sample: Callable[[dict[str, int], dict[str, int], dict[str, int]], None] | None = None,
              ) -> dict[str, MotorCalibration]:
    """Steps 2-4 on a connected bus with torque off (the arm already in its middle pose).

    `begin_recording()` is called once homing is done and returns the predicate that ends range
    recording (it is where an interactive caller tells the operator to start moving).
    """
    unknown = [j for j in full_turn if j not in bus.ids]
    if unknown:
        raise ValueError(f'full-turn joints {unknown} are not on this bus ({bus.names})')
    homed = home(bus, drive_modes)
    recorded = [j for j in bus.names if j not in full_turn]
    mins, maxes = record_ranges(bus, recorded, begin_recording(), on_sample)
    calibration = {j: MotorCalibration(m.id, m.drive_mode, m.homing_offset, mins.get(j, m.range_min),
                                       maxes.get(j, m.range_max)) for j, m in homed.items()}
    bus.apply_calibration(calibration)
    return calibration


def parse_motor(text: str) -> tuple[str, int, str | None]:
    """'name:id[:model]' -> (name, id, model or None)."""
    parts = text.split(':')
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].isdigit():
        raise argparse.ArgumentTypeError(f'expected NAME:ID[:MODEL], got {text!r}')
    return parts[0], int(parts[1]), parts[2] if len(parts) == 3 else None


class CalibrateVerb:
    help = "Record an arm's homing offsets and joint ranges into a LeRobot calibration JSON."

    def __init__(self, input_fn: Callable[[str], str] = input, out: TextIO | None = None):
        self.input_fn = input_fn
        self.out = out

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument('--port', required=True, help='serial port of the servo bus, e.g. /dev/ttyACM0')
        parser.add_argument('--protocol', choices=PROTOCOLS, default=FEETECH)
        parser.add_argument('--motor', dest='motors', action='append', type=parse_motor, default=[],
                            metavar='NAME:ID[:MODEL]',
                            help='a servo (repeat for each); default: the SO-101 joints on ids 1-6')
        parser.add_argument('--baudrate', type=int, default=1_000_000)
        parser.add_argument('--latency-timer-ms', type=float, default=16.0,
                            help='USB adapter latency budgeted in packet timeouts (default: 16, as the SDKs)')
        parser.add_argument('--full-turn', nargs='*', default=['wrist_roll'], metavar='JOINT',
                            help='joints given the whole turn instead of a recorded range (default: wrist_roll)')
        parser.add_argument('--invert', nargs='*', default=[], metavar='JOINT',
                            help='joints whose angle grows when their ticks shrink (drive_mode 1)')
        parser.add_argument('--duration', type=float, default=None, metavar='S',
                            help='no prompts: take the present pose as the middle and record ranges for S seconds')
        parser.add_argument('-o', '--output', required=True, help='calibration JSON file to write')

    def main(self, args: argparse.Namespace) -> int:
        out = self.out or sys.stdout
        protocol = args.protocol
        specs = args.motors or [(name, i + 1, None) for i, name in enumerate(JOINT_NAMES)]
        motors = {name: (motor_id, model or DEFAULT_MODEL[protocol]) for name, motor_id, model in specs}
        drive_modes = {j: 1 for j in args.invert}
        live = args.duration is None and out.isatty()  # a refreshing line of positions while recording
        try:
            unknown = [j for j in drive_modes if j not in motors]
            if unknown:
                raise ValueError(f'--invert names joints not on the bus: {unknown}')
            bus = make_bus(MotorBusConfig(port=args.port, protocol=protocol, motors=motors, baudrate=args.baudrate,
                                          latency_timer_ms=args.latency_timer_ms))
            bus.connect(configure=False)
        except (MotorBusError, ValueError, KeyError) as exc:
            print(f'dojo calibrate: {exc}', file=sys.stderr)
            return 1
        try:
            bus.disable_torque()
            if args.duration is None:
                self.input_fn('Torque is off. Move every joint to the middle of its travel, then press Enter. ')
            calibration = calibrate(bus, begin_recording=lambda: self._begin_recording(args.duration, out),
                                    full_turn=args.full_turn, drive_modes=drive_modes,
                                    on_sample=self._show if live else None)
        except (MotorBusError, ValueError) as exc:
            print(f'dojo calibrate: {exc}', file=sys.stderr)
            return 1
        except EOFError:
            print('dojo calibrate: no input on stdin (use --duration S for a run without prompts)', file=sys.stderr)
            return 1
        finally:
            bus.close()
        path = save_calibration(calibration, args.output)
        if live:
            print(file=out)
        print(f'{"joint":<15} {"id":>3} {"drive":>5} {"offset":>7} {"min":>5} {"max":>5}', file=out)
        for name, m in calibration.items():
            print(f'{name:<15} {m.id:>3} {m.drive_mode:>5} {m.homing_offset:>7} {m.range_min:>5} {m.range_max:>5}',
                  file=out)
        print(f'calibration written to {path}', file=out)
        return 0

    def _begin_recording(self, duration: float | None, out: TextIO) -> Callable[[], bool]:
        """The predicate that ends range recording: a deadline, or the operator pressing Enter."""
        if duration is not None:
            deadline = time.monotonic() + duration
            print(f'recording ranges for {duration:g} s: move every joint through its full travel', file=out)
            return lambda: time.monotonic() >= deadline
        done = threading.Event()

        def wait_for_enter() -> None:
            try:
                self.input_fn('Move every joint through its full travel; press Enter when done. ')
            finally:  # end of input ends recording too
                done.set()

        threading.Thread(target=wait_for_enter, daemon=True).start()
        return done.is_set

    def _show(self, present: dict[str, int], mins: dict[str, int], maxes: dict[str, int]) -> None:
        line = ' | '.join(f'{j} {mins[j]}..{present[j]}..{maxes[j]}' for j in present)
        print(f'\r{line}', end='', file=self.out or sys.stdout, flush=True)
