"""ROBOTIS Dynamixel X-series servos (Koch-style arms) over `dynamixel_sdk`, protocol 2.0."""
from __future__ import annotations

from types import MappingProxyType

import dynamixel_sdk

from dojo_core.motors.bus import MotorBus
from dojo_core.motors.calibration import HALF_TURN, MotorCalibration
from dojo_core.motors.tables import DYNAMIXEL

ALERT_BIT = 0x80  # status error bit 7: a hardware alarm, see Hardware_Error_Status


class DynamixelBus(MotorBus):
    """An X-series chain. drive_mode lives in the servo (Drive_Mode bit 0, written with the
    calibration as 0/1, so its other bits end up cleared), and the joint mapping does not invert
    again, as in LeRobot.

    Default setup: position mode (Min/Max_Position_Limit then bound goals) and no reply delay.
    Status error bits 0-6 mean the servo refused the instruction (MotorStatusError); bit 7 is a
    hardware alarm, counted and readable through `read_status().alarms`.
    """

    protocol = DYNAMIXEL
    sdk = dynamixel_sdk
    apply_drive_mode = False
    alarm_register = 'Hardware_Error_Status'
    alarm_names = MappingProxyType({0: 'input voltage', 2: 'overheat', 3: 'motor encoder', 4: 'electrical shock',
                                    5: 'overload'})
    default_setup = MappingProxyType({'*': {'Operating_Mode': 3, 'Return_Delay_Time': 0}})

    def _packet_handler(self):
        return dynamixel_sdk.PacketHandler(2.0)

    def homing_offset_for(self, position: int) -> int:
        """Dynamixel: Present_Position = encoder + Homing_Offset."""
        return HALF_TURN - int(position)

    def _is_instruction_error(self, error: int) -> bool:
        return bool(error & ~ALERT_BIT)

    def calibration_registers(self, motor: MotorCalibration) -> dict[str, int]:
        return {**super().calibration_registers(motor), 'Drive_Mode': motor.drive_mode}
