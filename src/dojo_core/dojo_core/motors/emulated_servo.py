"""One emulated servo: its control-table memory, factory defaults and a simple motion model.

Used by `dojo_core.motors.emulator`, which puts several of these behind a pseudo-terminal and
speaks the wire protocol. What is modelled, because a driver depends on it:

* the register map of the model (`tables.py`), little-endian bytes, with the family's sign
  encoding (sign-magnitude on Feetech, two's complement on Dynamixel);
* Present_Position = f(encoder, Homing_Offset, Drive_Mode): Feetech reports
  (encoder - Homing_Offset) mod 4096; Dynamixel reports +/-encoder + Homing_Offset, the sign set
  by Drive_Mode bit 0;
* with torque on, the joint moves toward Goal_Position (clipped to Min/Max_Position_Limit) as a
  first-order system (time constant `time_constant`, speed capped at `max_speed` ticks/s), so a
  test can watch it arrive; Present_Velocity, Moving and the load register follow;
* with torque off it stays where it is, or where `hand_move()` puts it (an operator moving the
  arm), and Goal_Position keeps its old value: the worst case for a driver that enables torque
  without first setting the goal to the present position;
* Dynamixel refuses writes to EEPROM (below address 64) while torque is on, and to read-only
  registers, with the access error of the real servo;
* `alarms` (hardware error bits) show in the status register and in every status packet.

Positions, temperatures and voltages are plain registers a test may `set()`.
"""
from __future__ import annotations

import math
import threading
import time

from dojo_core.motors.tables import DYNAMIXEL, FEETECH, MotorModel

DYNAMIXEL_EEPROM_END = 64  # X-series: registers below are writable only with torque off
ALARM_REGISTER = {FEETECH: 'Status', DYNAMIXEL: 'Hardware_Error_Status'}
LOAD_PER_TICK = 2.0  # load units per tick of position error while holding


def factory_defaults(model: MotorModel, motor_id: int, baudrate: int) -> dict[str, int]:
    """Register values of a servo out of the box (after its id and baud rate were set)."""
    common = {'Model_Number': model.number, 'ID': motor_id, 'Baud_Rate': model.baudrates[baudrate],
              'Return_Delay_Time': 250, 'Min_Position_Limit': 0, 'Max_Position_Limit': model.resolution - 1,
              'Torque_Enable': 0, 'Present_Temperature': 30}
    if model.protocol == FEETECH:
        return {**common, 'Firmware_Major_Version': 3, 'Firmware_Minor_Version': 10, 'Response_Status_Level': 1,
                'Max_Temperature_Limit': 70, 'Max_Voltage_Limit': 80, 'Min_Voltage_Limit': 40,
                'Max_Torque_Limit': 1000, 'P_Coefficient': 32, 'D_Coefficient': 32, 'I_Coefficient': 0,
                'Protection_Current': 500, 'Homing_Offset': 0, 'Operating_Mode': 0, 'Overload_Torque': 80,
                'Torque_Limit': 1000, 'Lock': 1, 'Present_Voltage': 74}
    return {**common, 'Firmware_Version': 48, 'Drive_Mode': 0, 'Operating_Mode': 3, 'Homing_Offset': 0,
            'Moving_Threshold': 10, 'Temperature_Limit': 80, 'Max_Voltage_Limit': 160, 'Min_Voltage_Limit': 95,
            'PWM_Limit': 885, 'Current_Limit': 1750, 'Velocity_Limit': 265, 'Status_Return_Level': 2,
            'Velocity_I_Gain': 1920, 'Velocity_P_Gain': 100, 'Position_P_Gain': 800, 'Position_I_Gain': 0,
            'Position_D_Gain': 0, 'Present_Input_Voltage': 120}


class EmulatedServo:
    """A servo's memory and motion. Thread-safe: the emulator thread and a test share it."""

    MEMORY_SIZE = 256

    def __init__(self, model: MotorModel, motor_id: int, baudrate: int, position: float = 2048.0, *,
                 time_constant: float = 0.05, max_speed: float = 3000.0, lock: threading.RLock | None = None):
        self.model = model
        self.memory = bytearray(self.MEMORY_SIZE)
        self.time_constant = time_constant
        self.max_speed = max_speed
        self.responding = True
        self.alarms = 0
        self._lock = lock or threading.RLock()
        self._velocity = 0.0
        self._time = time.monotonic()
        for name, value in factory_defaults(model, motor_id, baudrate).items():
            self.set(name, value)
        self.encoder = float(position) % model.resolution
        self.set('Goal_Position', round(self.present))
        self._publish()

    # -------------------------------------------------------------------- registers

    @property
    def id(self) -> int:
        return self._value('ID')

    @property
    def baudrate(self) -> int:
        value = self.get('Baud_Rate')
        return next(baud for baud, v in self.model.baudrates.items() if v == value)

    def raw(self, address: int, size: int) -> int:
        """The unsigned little-endian word at `address` (for tests that pin the wire encoding)."""
        with self._lock:
            return int.from_bytes(self.memory[address:address + size], 'little')

    def get(self, name: str) -> int:
        """A register's value, decoded (signed where the register is)."""
        reg = self.model.register(name)
        with self._lock:
            self._update()
            return reg.decode(self.raw(reg.address, reg.size))

    def set(self, name: str, value: int) -> None:
        """Set a register directly, as the servo itself would (no access checks)."""
        reg = self.model.register(name)
        with self._lock:
            self.memory[reg.address:reg.address + reg.size] = reg.encode(value).to_bytes(reg.size, 'little')

    def read_bytes(self, address: int, size: int) -> bytes:
        with self._lock:
            self._update()
            return bytes(self.memory[address:address + size]).ljust(size, b'\0')

    def write_bytes(self, address: int, data: bytes) -> bool:
        """Apply a WRITE instruction; False when the servo refuses it (Dynamixel access rules)."""
        with self._lock:
            self._update()
            end = address + len(data)
            if end > self.MEMORY_SIZE:
                return False
            if self.model.protocol == DYNAMIXEL:
                read_only = address < 7 or end > self.model.register('Moving').address
                eeprom_locked = address < DYNAMIXEL_EEPROM_END and self._value('Torque_Enable')
                if read_only or eeprom_locked:
                    return False
            self.memory[address:end] = data  # a new offset or direction re-labels the same encoder pose
            self._publish()
            return True

    # -------------------------------------------------------------------- motion

    @property
    def present(self) -> float:
        """Present_Position (not rounded) for the current encoder reading."""
        with self._lock:
            offset = self._value('Homing_Offset')
            if self.model.protocol == FEETECH:
                return (self.encoder - offset) % self.model.resolution
            return self._direction() * self.encoder + offset

    def hand_move(self, present: float) -> None:
        """Put the joint where Present_Position reads `present`, as an operator's hand would."""
        with self._lock:
            self._update()
            self._set_present(float(present))
            self._velocity = 0.0
            self._publish()

    def _value(self, name: str) -> int:
        """`get` without advancing the motion (for the motion model itself)."""
        reg = self.model.register(name)
        return reg.decode(self.raw(reg.address, reg.size))

    def _direction(self) -> int:
        return -1 if self.model.protocol == DYNAMIXEL and self.raw(self.model.register('Drive_Mode').address, 1) & 1 else 1

    def _set_present(self, present: float) -> None:
        offset = self._value('Homing_Offset')
        if self.model.protocol == FEETECH:
            self.encoder = (present + offset) % self.model.resolution
        else:
            self.encoder = self._direction() * (present - offset)

    def _goal(self) -> float:
        goal = self._value('Goal_Position')
        low, high = self._value('Min_Position_Limit'), self._value('Max_Position_Limit')
        return float(min(max(goal, low), high)) if low < high else float(goal)

    def _update(self) -> None:
        now = time.monotonic()
        dt, self._time = now - self._time, now
        if self._value('Torque_Enable') and dt > 0:
            present, goal = self.present, self._goal()
            step = (goal - present) * (1 - math.exp(-dt / self.time_constant))
            step = max(-self.max_speed * dt, min(self.max_speed * dt, step))
            self._set_present(present + step)
            self._velocity = step / dt
        elif dt > 0:
            self._velocity = 0.0
        self._publish()

    def _publish(self) -> None:
        """Write the present-state registers from the model state."""
        model = self.model
        holding = bool(self._value('Torque_Enable'))
        error = self._goal() - self.present if holding else 0.0
        present = round(self.present)
        self.set('Present_Position', present % model.resolution if model.protocol == FEETECH else present)
        self.set('Present_Velocity', round(self._velocity / model.velocity_unit))
        load = model.register(model.load_register).limits[1]
        self.set(model.load_register, int(max(-load, min(load, round(error * LOAD_PER_TICK)))))
        self.set('Moving', int(abs(error) > 1.0))
        self.set(ALARM_REGISTER[model.protocol], self.alarms)
