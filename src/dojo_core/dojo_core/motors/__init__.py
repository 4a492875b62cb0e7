"""Servo buses (Feetech STS, Dynamixel X) over the vendors' SDKs, calibration, and a bus emulator.

    bus = make_bus(MotorBusConfig(port='/dev/ttyACM0'), load_calibration('so101_follower.json'))
    bus.connect()              # ping, torque off, write calibration + setup registers
    bus.enable_torque()        # hold the current pose
    q = bus.read_positions()   # rad, JOINT_NAMES order
    bus.write_goal_positions({'gripper': 0.5})
"""
from __future__ import annotations

from typing import Mapping

from dojo_core.motors.bus import (SO101_FEETECH_MOTORS, BusCounters, JointReading, MotorBus, MotorBusConfig,
                                  MotorStatus)
from dojo_core.motors.calibration import (GRIPPER_RANGE, MotorCalibration, TickMapping, load_calibration,
                                          save_calibration)
from dojo_core.motors.dynamixel import DynamixelBus
from dojo_core.motors.errors import (MotorBusError, MotorCommError, MotorCorruptPacket, MotorNotConnected,
                                     MotorNotFound, MotorPortError, MotorStatusError, MotorTimeout)
from dojo_core.motors.feetech import FeetechBus
from dojo_core.motors.tables import DYNAMIXEL, FEETECH, PROTOCOLS

BUS_TYPES: Mapping[str, type[MotorBus]] = {FEETECH: FeetechBus, DYNAMIXEL: DynamixelBus}


def make_bus(config: MotorBusConfig, calibration: Mapping[str, MotorCalibration] | None = None) -> MotorBus:
    """The bus class for `config.protocol` ('feetech' or 'dynamixel'), not yet connected."""
    try:
        bus_type = BUS_TYPES[config.protocol]
    except KeyError:
        raise ValueError(f'unknown motor protocol {config.protocol!r}; expected one of {PROTOCOLS}') from None
    return bus_type(config, calibration)


__all__ = [
    'BUS_TYPES', 'BusCounters', 'DYNAMIXEL', 'DynamixelBus', 'FEETECH', 'FeetechBus', 'GRIPPER_RANGE', 'JointReading',
    'MotorBus', 'MotorBusConfig', 'MotorBusError', 'MotorCalibration', 'MotorCommError', 'MotorCorruptPacket',
    'MotorNotConnected', 'MotorNotFound', 'MotorPortError', 'MotorStatus', 'MotorStatusError', 'MotorTimeout',
    'PROTOCOLS', 'SO101_FEETECH_MOTORS', 'TickMapping', 'load_calibration', 'make_bus', 'save_calibration',
]
