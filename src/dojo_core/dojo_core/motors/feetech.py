"""Feetech STS/SMS servos (SO-100/SO-101 arms) over `scservo_sdk` (PyPI: feetech-servo-sdk)."""
from __future__ import annotations

import contextlib
from types import MappingProxyType
from typing import Iterator, Sequence

import scservo_sdk

from dojo_core.motors.bus import MotorBus
from dojo_core.motors.calibration import HALF_TURN
from dojo_core.motors.tables import FEETECH


class FeetechBus(MotorBus):
    """An STS3215 chain. Direction inversion (drive_mode) is applied in software: the STS has no
    direction register.

    Default setup (what LeRobot writes to an SO-101 follower): position mode, reply without
    delay, P=16 I=0 D=32 (the factory P=32 makes the arm shake), maximum acceleration, and on the
    gripper half torque, half protection current and a 25 % overload torque, so that squeezing
    an object does not overheat the jaw servo. Max_Torque_Limit is the power-up value (EEPROM),
    Torque_Limit the one in force now; both are written.
    """

    protocol = FEETECH
    sdk = scservo_sdk
    apply_drive_mode = True
    alarm_register = 'Status'
    alarm_names = MappingProxyType({0: 'voltage', 1: 'angle sensor', 2: 'overheat', 3: 'overcurrent',
                                    5: 'overload'})
    default_setup = MappingProxyType({
        '*': {'Operating_Mode': 0, 'Return_Delay_Time': 0, 'Acceleration': 254,
              'P_Coefficient': 16, 'I_Coefficient': 0, 'D_Coefficient': 32},
        'gripper': {'Max_Torque_Limit': 500, 'Torque_Limit': 500, 'Protection_Current': 250, 'Overload_Torque': 25},
    })

    def _packet_handler(self):
        return scservo_sdk.PacketHandler(0)  # 0: STS byte order (little-endian)

    def homing_offset_for(self, position: int) -> int:
        """Feetech: Present_Position = encoder - Homing_Offset, and the offset has 11 magnitude bits
        (a reading of 4095 gets 2047, one tick short of centred)."""
        return max(-2047, min(2047, int(position) - HALF_TURN))

    @contextlib.contextmanager
    def _eeprom_writable(self, joints: Sequence[str]) -> Iterator[None]:
        """STS servos keep EEPROM writes (calibration, gains) across power cycles only while Lock is 0."""
        for joint in joints:
            self.write('Lock', joint, 0)
        try:
            yield
        finally:
            for joint in joints:
                self.write('Lock', joint, 1)
