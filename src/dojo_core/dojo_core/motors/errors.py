"""Typed motor-bus errors, so a driver can tell a flaky packet from a lost port from a missing servo.

Every error names the port and the servo ids involved (`motor_ids`), because the first thing an
operator needs to know is which cable or which servo to look at.

    MotorBusError
    ├── MotorNotConnected    the bus was used before connect() or after close()
    ├── MotorPortError       the serial port cannot be opened or went away (unplugged): reconnect
    ├── MotorNotFound        connect(): configured servos did not answer a ping, or are another model
    ├── MotorStatusError     a servo answered but refused the instruction (Dynamixel instruction error)
    └── MotorCommError       no valid status packet after all retries
        ├── MotorTimeout         no status packet at all
        └── MotorCorruptPacket   a status packet arrived but its checksum/CRC or framing was wrong
"""
from __future__ import annotations

from typing import Iterable


class MotorBusError(Exception):
    """Base class; `motor_ids` are the servos the failed operation addressed."""

    def __init__(self, message: str, motor_ids: Iterable[int] = ()):
        super().__init__(message)
        self.motor_ids: tuple[int, ...] = tuple(motor_ids)


class MotorNotConnected(MotorBusError):
    pass


class MotorPortError(MotorBusError):
    pass


class MotorNotFound(MotorBusError):
    pass


class MotorStatusError(MotorBusError):
    pass


class MotorCommError(MotorBusError):
    pass


class MotorTimeout(MotorCommError):
    pass


class MotorCorruptPacket(MotorCommError):
    pass
