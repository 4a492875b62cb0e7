"""Servo control tables: where each register lives, how wide it is and how its sign is encoded.

One table per servo family, shared by the buses (which name registers, never raw addresses) and
by the bus emulator (which stores bytes at these addresses). Addresses and encodings are the
manufacturers' published control tables (Feetech STS/SMS memory table; ROBOTIS X-series
protocol 2.0 control table); the tests pin the ones dojo depends on to literal addresses so a
typo here cannot hide behind the shared table.

Encodings differ by family: Feetech STS stores signed values in sign-magnitude (bit 15 for
positions and velocities, bit 11 for Homing_Offset, bit 10 for Present_Load), Dynamixel stores
two's complement. `Register.encode`/`decode` hide that from callers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

FEETECH = 'feetech'
DYNAMIXEL = 'dynamixel'
PROTOCOLS = (FEETECH, DYNAMIXEL)


@dataclass(frozen=True)
class Register:
    """One control-table entry: `size` little-endian bytes at `address`.

    `sign_bit` marks a sign-magnitude value (Feetech): the bit is the sign, the bits below it
    the magnitude. `signed` marks a two's complement value (Dynamixel). Neither: unsigned.
    """

    address: int
    size: int
    sign_bit: int | None = None
    signed: bool = False

    @property
    def limits(self) -> tuple[int, int]:
        """The smallest and largest value `encode` accepts."""
        if self.sign_bit is not None:
            magnitude = (1 << self.sign_bit) - 1
            return -magnitude, magnitude
        if self.signed:
            return -(1 << (8 * self.size - 1)), (1 << (8 * self.size - 1)) - 1
        return 0, (1 << (8 * self.size)) - 1

    def encode(self, value: int) -> int:
        """The unsigned register word for a signed value (ValueError when it does not fit)."""
        value = int(value)
        low, high = self.limits
        if not low <= value <= high:
            raise ValueError(f'{value} does not fit register @{self.address} (range {low}..{high})')
        if self.sign_bit is not None:
            return (-value | (1 << self.sign_bit)) if value < 0 else value
        return value & ((1 << (8 * self.size)) - 1)

    def decode(self, word: int) -> int:
        """The signed value of an unsigned register word."""
        if self.sign_bit is not None:
            magnitude = word & ((1 << self.sign_bit) - 1)
            return -magnitude if word & (1 << self.sign_bit) else magnitude
        if self.signed and word & (1 << (8 * self.size - 1)):
            return word - (1 << (8 * self.size))
        return word


@dataclass(frozen=True)
class MotorModel:
    """A servo model: its protocol, ping model number, resolution and control table.

    `velocity_unit` is the size of one Present_Velocity unit in ticks/s; `load_unit` converts the
    load/current register into a fraction of the model's rated maximum (Feetech and XL430 report
    0.1 % steps; current-reporting models are scaled by their default current limit, so for
    those it is an approximation); `voltage_unit` is volts per Present_Voltage unit.
    """

    name: str
    protocol: str
    number: int
    resolution: int
    registers: Mapping[str, Register]
    baudrates: Mapping[int, int]  # line rate (baud) -> Baud_Rate register value
    velocity_unit: float
    load_unit: float
    load_register: str
    voltage_register: str
    voltage_unit: float = 0.1

    def register(self, name: str) -> Register:
        try:
            return self.registers[name]
        except KeyError:
            raise KeyError(f'{self.name} has no register {name!r}; known: {sorted(self.registers)}') from None

    @property
    def radians_per_tick(self) -> float:
        return 2 * math.pi / self.resolution


def _table(entries: dict[str, tuple]) -> Mapping[str, Register]:
    return MappingProxyType({name: Register(*spec) for name, spec in entries.items()})


# Feetech STS/SMS series (protocol "0", little-endian). EEPROM below address 40, RAM from 40.
STS_REGISTERS = _table({
    'Firmware_Major_Version': (0, 1), 'Firmware_Minor_Version': (1, 1), 'Model_Number': (3, 2),
    'ID': (5, 1), 'Baud_Rate': (6, 1), 'Return_Delay_Time': (7, 1), 'Response_Status_Level': (8, 1),
    'Min_Position_Limit': (9, 2), 'Max_Position_Limit': (11, 2), 'Max_Temperature_Limit': (13, 1),
    'Max_Voltage_Limit': (14, 1), 'Min_Voltage_Limit': (15, 1), 'Max_Torque_Limit': (16, 2),
    'P_Coefficient': (21, 1), 'D_Coefficient': (22, 1), 'I_Coefficient': (23, 1),
    'Protection_Current': (28, 2), 'Homing_Offset': (31, 2, 11), 'Operating_Mode': (33, 1),
    'Overload_Torque': (36, 1),
    'Torque_Enable': (40, 1), 'Acceleration': (41, 1), 'Goal_Position': (42, 2, 15), 'Goal_Time': (44, 2),
    'Goal_Velocity': (46, 2, 15), 'Torque_Limit': (48, 2), 'Lock': (55, 1),
    'Present_Position': (56, 2, 15), 'Present_Velocity': (58, 2, 15), 'Present_Load': (60, 2, 10),
    'Present_Voltage': (62, 1), 'Present_Temperature': (63, 1), 'Status': (65, 1), 'Moving': (66, 1),
    'Present_Current': (69, 2, 15),
})
STS_BAUDRATES = MappingProxyType({1_000_000: 0, 500_000: 1, 250_000: 2, 128_000: 3, 115_200: 4,
                                  57_600: 5, 38_400: 6, 19_200: 7})

# ROBOTIS X-series, protocol 2.0 (XL330, XL430, XM430, ...: one control table).
X_REGISTERS = _table({
    'Model_Number': (0, 2), 'Firmware_Version': (6, 1), 'ID': (7, 1), 'Baud_Rate': (8, 1),
    'Return_Delay_Time': (9, 1), 'Drive_Mode': (10, 1), 'Operating_Mode': (11, 1),
    'Homing_Offset': (20, 4, None, True), 'Moving_Threshold': (24, 4), 'Temperature_Limit': (31, 1),
    'Max_Voltage_Limit': (32, 2), 'Min_Voltage_Limit': (34, 2), 'PWM_Limit': (36, 2), 'Current_Limit': (38, 2),
    'Velocity_Limit': (44, 4), 'Max_Position_Limit': (48, 4), 'Min_Position_Limit': (52, 4),
    'Torque_Enable': (64, 1), 'LED': (65, 1), 'Status_Return_Level': (68, 1), 'Hardware_Error_Status': (70, 1),
    'Velocity_I_Gain': (76, 2), 'Velocity_P_Gain': (78, 2),
    'Position_D_Gain': (80, 2), 'Position_I_Gain': (82, 2), 'Position_P_Gain': (84, 2),
    'Goal_PWM': (100, 2, None, True), 'Goal_Current': (102, 2, None, True), 'Goal_Velocity': (104, 4, None, True),
    'Profile_Acceleration': (108, 4), 'Profile_Velocity': (112, 4), 'Goal_Position': (116, 4, None, True),
    'Moving': (122, 1), 'Present_PWM': (124, 2, None, True), 'Present_Current': (126, 2, None, True),
    'Present_Velocity': (128, 4, None, True), 'Present_Position': (132, 4, None, True),
    'Present_Input_Voltage': (144, 2), 'Present_Temperature': (146, 1),
})
X_BAUDRATES = MappingProxyType({9_600: 0, 57_600: 1, 115_200: 2, 1_000_000: 3, 2_000_000: 4,
                                3_000_000: 5, 4_000_000: 6, 4_500_000: 7})
X_VELOCITY_UNIT = 0.229 * 4096 / 60  # 0.229 rev/min per unit, in ticks/s


def _sts(name: str, number: int) -> MotorModel:
    return MotorModel(name, FEETECH, number, 4096, STS_REGISTERS, STS_BAUDRATES, velocity_unit=1.0,
                      load_unit=0.001, load_register='Present_Load', voltage_register='Present_Voltage')


def _x_series(name: str, number: int, load_unit: float) -> MotorModel:
    return MotorModel(name, DYNAMIXEL, number, 4096, X_REGISTERS, X_BAUDRATES, velocity_unit=X_VELOCITY_UNIT,
                      load_unit=load_unit, load_register='Present_Current', voltage_register='Present_Input_Voltage')


MODELS: Mapping[str, MotorModel] = MappingProxyType({m.name: m for m in (
    _sts('sts3215', 777),
    _sts('sts3250', 2825),
    _x_series('xl430-w250', 1060, 0.001),  # register 126 is Present_Load in 0.1 % on the XL430
    _x_series('xl330-m077', 1190, 1 / 1750),  # mA, default Current_Limit 1750 mA
    _x_series('xl330-m288', 1200, 1 / 1750),
    _x_series('xm430-w350', 1020, 1 / 1193),  # 2.69 mA units, default Current_Limit 1193
)})


DEFAULT_MODEL: Mapping[str, str] = MappingProxyType({FEETECH: 'sts3215', DYNAMIXEL: 'xl430-w250'})


def motor_model(name: str) -> MotorModel:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f'unknown motor model {name!r}; known: {sorted(MODELS)}') from None


@dataclass(frozen=True)
class RegisterSpan:
    """The smallest contiguous block holding several registers, so one sync read fetches them all."""

    address: int
    size: int
    registers: Mapping[str, Register] = field(default_factory=dict)

    @classmethod
    def of(cls, model: MotorModel, names: tuple[str, ...]) -> 'RegisterSpan':
        registers = {name: model.register(name) for name in names}
        start = min(r.address for r in registers.values())
        end = max(r.address + r.size for r in registers.values())
        return cls(start, end - start, MappingProxyType(registers))
