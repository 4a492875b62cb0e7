"""A servo bus over the vendors' own Python SDKs: connect, ping/scan, sync read/write, torque, calibration.

`MotorBus` drives the SDK objects (PortHandler, PacketHandler, GroupSyncRead, GroupSyncWrite),
which `scservo_sdk` (Feetech) and `dynamixel_sdk` (Dynamixel) spell the same way; `FeetechBus`
and `DynamixelBus` supply what differs (protocol version, homing-offset sign, where the direction
inversion lives, defaults written at connect). Everything else is shared:

* every transaction is retried up to `retries` more times when the status packet is missing or
  corrupt; before a retry the receive buffer is drained, so a late reply to the failed request can
  never be taken for the answer to the next one. Retries, timeouts, corrupt packets, failures
  and port errors are counted (`counters`), and a transaction that still fails raises a typed
  `MotorCommError` naming the servo ids;
* a serial error (cable pulled, port gone) closes the bus and raises `MotorPortError`; call
  `reconnect()` when the port is back;
* joint angles are radians through the calibration (`TickMapping`); goals are clipped to the
  calibrated range before they are sent, and the servo's Min/Max_Position_Limit registers hold the
  same range, so neither side can drive a joint past it;
* all public methods hold one lock, so a driver may read from one thread and write from another.

Cycle cost: `read_positions()` is one sync read (one instruction, one short status packet per
servo); `write_goal_positions()` is one sync write (no replies). Status (velocity, load,
voltage, temperature, alarms) is a separate, slower call: `read_status()`.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import errno
import functools
import termios
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable, ClassVar, Iterable, Iterator, Mapping, NoReturn, Sequence

import numpy as np
import serial

from dojo_core.motors.calibration import DEFAULT_RANGED, MotorCalibration, TickMapping, Window
from dojo_core.motors.errors import (MotorBusError, MotorCommError, MotorCorruptPacket, MotorNotConnected,
                                     MotorNotFound, MotorPortError, MotorStatusError, MotorTimeout)
from dojo_core.motors.tables import FEETECH, MotorModel, Register, RegisterSpan, motor_model
from dojo_core.robot.description import JOINT_NAMES

SO101_FEETECH_MOTORS: dict[str, tuple[int, str]] = {name: (i + 1, 'sts3215') for i, name in enumerate(JOINT_NAMES)}
SPAN_GAP = 16  # registers closer than this are fetched in one sync read: a few spare bytes (10 us each
# at 1 Mbaud) cost far less than a second request
DRAIN_QUIET, DRAIN_ROUNDS = 0.002, 10  # s of silence that ends a drain; at most this many waits
# What a vanished port raises from inside the SDKs (pyserial, and termios.tcflush in clearPort).
PORT_ERRORS = (serial.SerialException, OSError, termios.error)


def _interrupted(exc: BaseException) -> bool:
    """A system call cut short by a signal (EINTR), not a lost port. pyserial's flush(), which both
    SDKs call before every request, is termios.tcdrain: neither restarted by the kernel (not even
    under SA_RESTART) nor retried by Python, so a Ctrl-C that lands in it must not end the bus."""
    code = exc.errno if isinstance(exc, OSError) else exc.args[0] if exc.args else None
    return code == errno.EINTR


@dataclass
class MotorBusConfig:
    """Where the servos are and how to talk to them.

    `motors` maps joint name -> (servo id, model), e.g. {'gripper': (6, 'sts3215')}. `retries`
    is how many times a failed transaction is repeated. `latency_timer_ms` is the USB-serial
    adapter latency the SDKs budget for, twice, in every status-packet timeout (they hard-code
    16 ms, the FTDI default); raise it for a slow adapter or a heavily loaded host. `setup` holds
    registers written at connect, per joint name or '*' for every joint; None uses the bus
    class's `default_setup` (for Feetech: LeRobot's SO-101 follower settings). `ranged` names the
    joints mapped linearly onto a fixed angle range (default: the gripper, see calibration.py).
    """

    port: str
    protocol: str = FEETECH
    motors: dict[str, tuple[int, str]] = field(default_factory=lambda: dict(SO101_FEETECH_MOTORS))
    baudrate: int = 1_000_000
    retries: int = 3
    latency_timer_ms: float = 16.0
    setup: dict[str, dict[str, int]] | None = None
    ranged: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_RANGED))


@dataclass
class BusCounters:
    """Health counters for /diagnostics. `transactions` counts requests, `retries` repeated ones."""

    transactions: int = 0
    retries: int = 0
    timeouts: int = 0  # no status packet
    corrupt: int = 0  # status packet with a bad checksum/CRC or framing
    tx_errors: int = 0  # the request could not be sent (or the SDK reported another failure)
    failures: int = 0  # transactions that failed after all retries
    status_errors: int = 0  # status packets carrying error/alarm bits
    port_errors: int = 0  # port could not be opened or was lost
    reconnects: int = 0


@dataclass(frozen=True)
class MotorStatus:
    """Slow-rate servo state, in `names` order: velocity rad/s (joint frame when calibrated),
    load as a signed fraction of rated torque, supply voltage V, temperature degC, alarm bits."""

    names: tuple[str, ...]
    velocity: np.ndarray
    load: np.ndarray
    voltage: np.ndarray
    temperature: np.ndarray
    alarms: np.ndarray


@dataclass(frozen=True)
class JointReading:
    """Positions (rad) and velocities (rad/s) from one sync read, in `names` order."""

    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray


class MotorBus(abc.ABC):
    """A chain of servos on one serial port, addressed by joint name.

    `names` (config order), `ids` and `models` describe the chain; `calibration`/`mapping` are set
    from the calibration given at construction or by `apply_calibration()`; `last_status_error`
    holds, per servo id, the last non-zero error byte a status packet carried.
    """

    protocol: ClassVar[str]
    sdk: ClassVar[ModuleType]
    apply_drive_mode: ClassVar[bool]  # False when the servo inverts direction itself
    default_setup: ClassVar[Mapping[str, Mapping[str, int]]]
    alarm_register: ClassVar[str]
    alarm_names: ClassVar[Mapping[int, str]]  # bit -> meaning, for alarm_text()

    def __init__(self, config: MotorBusConfig, calibration: Mapping[str, MotorCalibration] | None = None):
        self.config = config
        self.names: tuple[str, ...] = tuple(config.motors)
        self.ids: dict[str, int] = {name: int(spec[0]) for name, spec in config.motors.items()}
        self.models: dict[str, MotorModel] = {name: motor_model(spec[1]) for name, spec in config.motors.items()}
        self._validate_config()
        self.model = self.models[self.names[0]]  # one control table per bus (checked above)
        self._setup = self._merge_setup(self.default_setup if config.setup is None else config.setup)
        self._lock = threading.RLock()
        self._counters = BusCounters()
        self._port = None
        self._packets = self._packet_handler()
        self._readers: dict[tuple, object] = {}
        self._connected = False
        self.last_status_error: dict[int, int] = {}
        self.calibration: dict[str, MotorCalibration] | None = None
        self.mapping: TickMapping | None = None
        if calibration is not None:
            self._set_calibration(calibration)

    # ----------------------------------------------------------------------------- per protocol

    @abc.abstractmethod
    def _packet_handler(self):
        """The SDK's PacketHandler for this protocol."""

    @abc.abstractmethod
    def homing_offset_for(self, position: int) -> int:
        """The Homing_Offset that makes a servo reading `position` (with offset 0) read half a turn."""

    def _is_instruction_error(self, error: int) -> bool:
        """Whether a status error byte means the instruction was refused (rather than an alarm)."""
        return False

    def calibration_registers(self, motor: MotorCalibration) -> dict[str, int]:
        """The registers that hold one motor's calibration on the servo."""
        return {'Homing_Offset': motor.homing_offset, 'Min_Position_Limit': motor.range_min,
                'Max_Position_Limit': motor.range_max}

    @contextlib.contextmanager
    def _eeprom_writable(self, joints: Sequence[str]) -> Iterator[None]:
        """Around writes of persistent registers (Feetech needs its Lock register cleared)."""
        yield

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def counters(self) -> BusCounters:
        """A snapshot of the health counters."""
        with self._lock:
            return dataclasses.replace(self._counters)

    def connect(self, *, configure: bool = True, check_motors: bool = True) -> None:
        """Open the port; ping every configured servo; optionally configure them.

        `configure` disables torque and writes the calibration (homing offset, position limits)
        and the `setup` registers, each only where the servo holds a different value, so the
        servos' flash is not rewritten on every start. Torque stays off: `enable_torque()` is the
        caller's decision. `check_motors=False` only opens the port (for `scan()`).
        """
        with self._lock:
            if self._connected:
                return
            self._open_port()
            self._connected = True
            try:
                if check_motors:
                    self._check_motors()
                if configure:
                    self._configure()
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        """Release the port (never raises; torque is left as it is: disable it first if wanted)."""
        with self._lock:
            if self._port is not None:
                with contextlib.suppress(Exception):
                    self._port.closePort()
            self._port = None
            self._readers.clear()
            self._connected = False

    def reconnect(self) -> None:
        """Close, reopen the port and ping the servos, without touching their registers.

        For a port that came back after being lost: the servos may still hold the arm, so
        torque and goals are left alone (unlike `connect()`, which disables torque).
        """
        with self._lock:
            self.close()
            self.connect(configure=False)
            self._counters.reconnects += 1

    def __enter__(self) -> 'MotorBus':
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------------- discovery

    def ping(self, motor_id: int, retries: int | None = None) -> int | None:
        """The model number servo `motor_id` reports, or None when it does not answer."""
        with self._lock:
            try:
                model, _, _ = self._transact(f'ping id {motor_id}', [motor_id],
                                             lambda: self._packets.ping(self._open(), motor_id), retries)
            except MotorCommError:
                return None
            return int(model)

    def scan(self, ids: Iterable[int] = range(0, 253)) -> dict[int, int]:
        """Servo id -> model number for every id in `ids` that answers a ping (no retries)."""
        return {i: model for i in ids if (model := self.ping(i, retries=0)) is not None}

    # ----------------------------------------------------------------------------- raw registers

    def read(self, register: str, joint: str) -> int:
        """One register of one servo (a read with its own status packet)."""
        reg, motor_id = self.model.register(register), self._id(joint)

        def attempt() -> tuple:
            data, result, error = self._packets.readTxRx(self._open(), motor_id, reg.address, reg.size)
            if result == self.sdk.COMM_SUCCESS and len(data) < reg.size:  # a shorter reply to an earlier request
                result = self.sdk.COMM_RX_CORRUPT
            return data, result, error

        with self._lock:
            data, _, _ = self._transact(f'read {register} from id {motor_id}', [motor_id], attempt)
        return reg.decode(int.from_bytes(bytes(data[:reg.size]), 'little'))

    def write(self, register: str, joint: str, value: int) -> None:
        """One register of one servo, acknowledged by its status packet."""
        reg, motor_id = self.model.register(register), self._id(joint)
        data = self._encode(reg, value)
        with self._lock:
            self._transact(f'write {register}={value} to id {motor_id}', [motor_id],
                           lambda: (None, *self._packets.writeTxRx(self._open(), motor_id, reg.address, reg.size, data)))

    def sync_read(self, register: str, joints: Sequence[str] | None = None) -> dict[str, int]:
        """One register of several servos in one sync read."""
        return self.sync_read_many((register,), joints)[register]

    def sync_read_many(self, registers: Sequence[str], joints: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        """Several registers of several servos; registers close together share one sync read."""
        joints = self._joints(joints)
        result: dict[str, dict[str, int]] = {}
        with self._lock:
            for span in self._spans(registers):
                result.update(self._sync_read_span(span, joints))
        return result

    def sync_write(self, register: str, values: Mapping[str, int]) -> None:
        """One register of several servos in one sync write (no status packets: fast, unacknowledged)."""
        reg = self.model.register(register)
        payload = {self.ids[j]: self._encode(reg, values[j]) for j in self._joints(list(values))}
        with self._lock:
            group = self.sdk.GroupSyncWrite(self._open(), self._packets, reg.address, reg.size)
            for motor_id, data in payload.items():
                group.addParam(motor_id, data)
            self._transact(f'sync write {register} to ids {list(payload)}', list(payload),
                           lambda: (None, group.txPacket(), 0))

    # ----------------------------------------------------------------------------- joint space

    def read_positions(self) -> np.ndarray:
        """Joint angles (rad) in `names` order, from one sync read of Present_Position."""
        mapping = self._require_mapping()
        ticks = self.sync_read('Present_Position')
        return mapping.to_radians([ticks[n] for n in self.names])

    def read_joint_state(self) -> JointReading:
        """Positions and velocities from one sync read spanning both registers."""
        mapping = self._require_mapping()
        values = self.sync_read_many(('Present_Position', 'Present_Velocity'))
        return JointReading(self.names, mapping.to_radians(self._column(values, 'Present_Position')),
                            mapping.velocity_to_radians(self._ticks_per_second(values)))

    def write_goal_positions(self, goals: Mapping[str, float] | Sequence[float],
                             within: Sequence[Window] = ()) -> dict[str, float]:
        """Send joint goals (rad; a mapping may name a subset) in one sync write.

        Goals are clipped to the calibrated range and rounded to whole ticks inside the `within`
        windows (rad, in the order of `goals`): see `TickMapping.to_ticks`. The angles actually
        commanded are returned, so a caller can count and report clipping, and ramp from them.
        """
        if not isinstance(goals, Mapping):
            values = list(goals)
            if len(values) != len(self.names):
                raise ValueError(f'expected {len(self.names)} goals for {self.names}, got {len(values)}')
            goals = dict(zip(self.names, values))
        names = self._joints(list(goals))
        values = np.asarray([goals[n] for n in names], dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f'non-finite goal in {dict(zip(names, values.tolist()))}')
        mapping = self._require_mapping().select(names)
        ticks = mapping.to_ticks(values, within)
        self.sync_write('Goal_Position', dict(zip(names, ticks.tolist())))
        return dict(zip(names, mapping.to_radians(ticks).tolist()))

    def read_status(self) -> MotorStatus:
        """Velocity, load, voltage, temperature and alarm bits of every servo (slow-rate diagnostics)."""
        model = self.model  # register names are shared by every servo on the bus
        load, voltage = model.load_register, model.voltage_register
        values = self.sync_read_many(('Present_Velocity', load, voltage, 'Present_Temperature', self.alarm_register))
        ticks_per_s = self._ticks_per_second(values)
        velocity = (self.mapping.velocity_to_radians(ticks_per_s) if self.mapping is not None
                    else ticks_per_s * model.radians_per_tick)
        return MotorStatus(self.names, velocity,
                           self._column(values, load, lambda m: m.load_unit),
                           self._column(values, voltage, lambda m: m.voltage_unit),
                           self._column(values, 'Present_Temperature'),
                           self._column(values, self.alarm_register).astype(int))

    def alarm_text(self, bits: int) -> str:
        """Human-readable alarm bits ('' when none)."""
        return ', '.join(text for bit, text in self.alarm_names.items() if bits & (1 << bit))

    # ----------------------------------------------------------------------------- torque

    def enable_torque(self, joints: Sequence[str] | None = None) -> None:
        """Hold the arm where it is: Goal_Position := Present_Position first, then torque on.

        Servos keep their last goal while torque is off, and the arm may have been moved by hand
        since; enabling torque without this would make it jump back.
        """
        joints = self._joints(joints)
        with self._lock:
            present = self.sync_read('Present_Position', joints)
            for joint in joints:  # acknowledged writes: a lost goal here would make the arm jump
                self.write('Goal_Position', joint, present[joint])
                self.write('Torque_Enable', joint, 1)

    def disable_torque(self, joints: Sequence[str] | None = None) -> None:
        """Torque off, servo by servo; every servo is tried even when one fails (then the first error
        is raised, naming all failed ids)."""
        failed: list[tuple[str, MotorBusError]] = []
        with self._lock:
            for joint in self._joints(joints):
                try:
                    self.write('Torque_Enable', joint, 0)
                except MotorPortError:
                    raise
                except MotorBusError as exc:
                    failed.append((joint, exc))
        if failed:
            ids = [self.ids[j] for j, _ in failed]
            raise type(failed[0][1])(f'torque off failed for ids {ids}: {failed[0][1]}', ids)

    # ----------------------------------------------------------------------------- calibration

    def apply_calibration(self, calibration: Mapping[str, MotorCalibration], write: bool = True) -> None:
        """Use `calibration` for the joint mapping and (with `write`) store it on the servos.

        Only registers that differ are written, with torque off on those servos (a changed homing
        offset moves the reference of a held goal).
        """
        with self._lock:
            self._set_calibration(calibration)
            if write:
                self._write_registers({name: self.calibration_registers(motor) for name, motor in calibration.items()
                                       if name in self.ids}, torque_off=True)

    def read_calibration(self) -> dict[str, MotorCalibration]:
        """The calibration stored in the servos' registers (what LeRobot and `dojo calibrate` write).

        Homing offset and position limits from every servo, plus bit 0 of Drive_Mode where the model
        has that register (Dynamixel); Feetech has none, so its joints read as not inverted.
        Raises ValueError when the stored values do not form a usable calibration.
        """
        registers = ('Homing_Offset', 'Min_Position_Limit', 'Max_Position_Limit')
        has_drive_mode = 'Drive_Mode' in self.model.registers
        values = self.sync_read_many(registers + (('Drive_Mode',) if has_drive_mode else ()))
        try:
            return {joint: MotorCalibration(self.ids[joint],
                                            values['Drive_Mode'][joint] & 1 if has_drive_mode else 0,
                                            values['Homing_Offset'][joint], values['Min_Position_Limit'][joint],
                                            values['Max_Position_Limit'][joint])
                    for joint in self.names}
        except ValueError as exc:
            raise ValueError(f'{self.config.port}: the calibration stored on the servos is unusable ({exc}); '
                             'record one with `dojo calibrate` or give a calibration file') from None

    # ----------------------------------------------------------------------------- internals

    def _validate_config(self) -> None:
        config = self.config
        if config.protocol != self.protocol:
            raise ValueError(f'{type(self).__name__} drives {self.protocol} servos, config says {config.protocol!r}')
        if not self.names:
            raise ValueError('a motor bus needs at least one motor')
        ids = list(self.ids.values())
        if len(set(ids)) != len(ids) or not all(0 <= i <= 252 for i in ids):
            raise ValueError(f'motor ids must be unique and in 0..252, got {self.ids}')
        wrong = {n: m.name for n, m in self.models.items() if m.protocol != self.protocol}
        if wrong:
            raise ValueError(f'{type(self).__name__} drives {self.protocol} servos; {wrong} are not')
        if len({id(m.registers) for m in self.models.values()}) != 1:
            raise ValueError(f'all servos on one bus must share a control table, got {self.models}')
        model = next(iter(self.models.values()))
        if config.baudrate not in model.baudrates:
            raise ValueError(f'baudrate {config.baudrate} not supported by {model.name}: {sorted(model.baudrates)}')
        if config.retries < 0 or config.latency_timer_ms < 0:
            raise ValueError(f'retries and latency_timer_ms must be >= 0, got {config.retries}, '
                             f'{config.latency_timer_ms}')

    def _merge_setup(self, setup: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
        unknown = [k for k in setup if k != '*' and k not in self.ids]
        if unknown:
            raise ValueError(f'setup names unknown joints {unknown}; joints: {self.names}')
        merged = {name: {**setup.get('*', {}), **setup.get(name, {})} for name in self.names}
        for name, registers in merged.items():
            for register, value in registers.items():
                self.models[name].register(register).encode(value)  # KeyError/ValueError now, not at connect
        return merged

    def _set_calibration(self, calibration: Mapping[str, MotorCalibration]) -> None:
        missing = [n for n in self.names if n not in calibration]
        wrong_ids = {n: (calibration[n].id, self.ids[n]) for n in self.names
                     if n in calibration and calibration[n].id != self.ids[n]}
        if missing or wrong_ids:
            raise ValueError(f'calibration does not fit the bus: missing joints {missing}, '
                             f'(calibration id, bus id) mismatches {wrong_ids}')
        for name in self.names:
            for register, value in self.calibration_registers(calibration[name]).items():
                try:
                    self.model.register(register).encode(value)
                except ValueError as exc:
                    raise ValueError(f'calibration of {name!r}: {register} {exc}') from None
        self.calibration = {n: calibration[n] for n in self.names}
        self.mapping = TickMapping.from_calibration(
            self.calibration, self.names, resolution=self.model.resolution,
            apply_drive_mode=self.apply_drive_mode, ranged=self.config.ranged)

    def _require_mapping(self) -> TickMapping:
        if self.mapping is None:
            raise MotorBusError(f'{self.config.port}: no calibration loaded; record one with `dojo calibrate`',
                                self.ids.values())
        return self.mapping

    def _id(self, joint: str) -> int:
        return self.ids[self._joints([joint])[0]]

    def _joints(self, joints: Sequence[str] | None) -> list[str]:
        if joints is None:
            return list(self.names)
        unknown = [j for j in joints if j not in self.ids]
        if unknown:
            raise KeyError(f'unknown joints {unknown}; this bus has {self.names}')
        return list(joints)

    def _column(self, values: Mapping[str, Mapping[str, int]], register: str,
                unit: Callable[[MotorModel], float] = lambda model: 1.0) -> np.ndarray:
        """One register of every joint, in `names` order, times each servo model's unit."""
        return np.array([values[register][n] * unit(self.models[n]) for n in self.names], dtype=float)

    def _ticks_per_second(self, values: Mapping[str, Mapping[str, int]]) -> np.ndarray:
        return self._column(values, 'Present_Velocity', lambda model: model.velocity_unit)

    @staticmethod
    def _encode(reg: Register, value: int) -> list[int]:
        return list(reg.encode(value).to_bytes(reg.size, 'little'))

    def _spans(self, registers: Sequence[str]) -> list[RegisterSpan]:
        """Group registers into contiguous blocks, merging neighbours less than SPAN_GAP bytes apart."""
        groups: list[list[str]] = []
        end = 0
        for name in sorted(set(registers), key=lambda r: self.model.register(r).address):
            reg = self.model.register(name)
            if groups and reg.address - end < SPAN_GAP:
                groups[-1].append(name)
            else:
                groups.append([name])
            end = max(end, reg.address + reg.size) if len(groups[-1]) > 1 else reg.address + reg.size
        return [RegisterSpan.of(self.model, tuple(g)) for g in groups]

    def _sync_read_span(self, span: RegisterSpan, joints: list[str]) -> dict[str, dict[str, int]]:
        ids = tuple(self.ids[j] for j in joints)
        key = (span.address, span.size, ids)
        group = self._readers.get(key)
        if group is None:
            group = self.sdk.GroupSyncRead(self._open(), self._packets, span.address, span.size)
            for motor_id in ids:
                group.addParam(motor_id)
            self._readers[key] = group

        def short() -> list[int]:
            return [i for i in ids if len(group.data_dict.get(i) or []) < span.size]

        def attempt() -> tuple:
            result = group.txRxPacket()
            if result == self.sdk.COMM_SUCCESS and short():  # a shorter reply to an earlier request
                result = self.sdk.COMM_RX_CORRUPT
            return None, result, 0

        self._transact(f'sync read {"/".join(span.registers)} from ids {list(ids)}', ids, attempt,
                       blame=lambda: short()[:1])  # the SDK stops at the first servo without a valid reply
        return {name: {j: reg.decode(group.getData(i, reg.address, reg.size)) for j, i in zip(joints, ids)}
                for name, reg in span.registers.items()}

    def _transact(self, what: str, ids: Sequence[int], call: Callable[[], tuple], retries: int | None = None,
                  blame: Callable[[], list[int]] | None = None):
        """Run one SDK request with bounded retries; returns the call's (value, result, error).

        On failure the error names `blame()` (the servos that did not answer), else all `ids`.
        """
        retries = self.config.retries if retries is None else retries
        sdk, counters = self.sdk, self._counters
        for attempt in range(retries + 1):
            if attempt:
                counters.retries += 1
                self._drain()
            counters.transactions += 1
            try:
                value, result, error = call()
            except PORT_ERRORS as exc:
                if not _interrupted(exc):
                    self._port_lost(exc, ids)
                # a signal cut the request short: the port is fine (the SDK still marks it busy), send it again
                self._port.is_using = False
                result = sdk.COMM_TX_FAIL
            if result == sdk.COMM_SUCCESS:
                if error:
                    self._status_error(what, ids, error)
                return value, result, error
            if result == sdk.COMM_RX_TIMEOUT:
                counters.timeouts += 1
            elif result == sdk.COMM_RX_CORRUPT:
                counters.corrupt += 1
            else:
                counters.tx_errors += 1
        counters.failures += 1
        error_type = {sdk.COMM_RX_TIMEOUT: MotorTimeout, sdk.COMM_RX_CORRUPT: MotorCorruptPacket}.get(result, MotorCommError)
        culprits = blame() if blame is not None else []
        where = f' (no valid reply from id {culprits[0]})' if culprits else ''
        raise error_type(f'{self.config.port}: {what} failed after {retries + 1} attempts: '
                         f'{self._packets.getTxRxResult(result)}{where}', culprits or ids)

    def _status_error(self, what: str, ids: Sequence[int], error: int) -> None:
        self._counters.status_errors += 1
        for motor_id in ids:
            self.last_status_error[motor_id] = error
        if self._is_instruction_error(error):
            raise MotorStatusError(f'{self.config.port}: {what} refused by the servo: '
                                   f'{self._packets.getRxPacketError(error)}', ids)

    def _drain(self) -> None:
        """Discard replies to a failed request: wait until the line has been quiet for DRAIN_QUIET.

        Otherwise a late status packet from a servo could be taken for its answer to the retry
        (the SDKs match replies by servo id only).
        """
        port = self._open()
        try:
            for _ in range(DRAIN_ROUNDS):
                time.sleep(DRAIN_QUIET)
                if not port.ser.in_waiting:
                    break
                port.ser.reset_input_buffer()
        except PORT_ERRORS as exc:
            self._port_lost(exc, self.ids.values())

    def _port_lost(self, exc: BaseException, ids: Iterable[int]) -> NoReturn:
        self._counters.port_errors += 1
        self.close()
        raise MotorPortError(f'{self.config.port}: serial port lost ({exc}); reconnect() once it is back', ids) from exc

    def _open(self):
        if not self._connected or self._port is None:
            raise MotorNotConnected(f'{self.config.port}: bus is not connected; call connect()', self.ids.values())
        return self._port

    def _open_port(self) -> None:
        port = _port_handler_type(self.sdk)(self.config.port, self.config.latency_timer_ms)
        try:
            opened = port.setBaudRate(self.config.baudrate)
        except PORT_ERRORS as exc:
            self._counters.port_errors += 1
            raise MotorPortError(f'cannot open motor bus port {self.config.port}: {exc}', self.ids.values()) from exc
        if not opened:
            raise MotorPortError(f'{self.config.port}: the SDK cannot set {self.config.baudrate} baud', self.ids.values())
        self._port = port

    def _check_motors(self) -> None:
        found = {name: self.ping(self.ids[name]) for name in self.names}
        missing = [f'{n} (id {self.ids[n]})' for n, model in found.items() if model is None]
        wrong = [f'{n} (id {self.ids[n]}: expected {self.models[n].name} = {self.models[n].number}, found {model})'
                 for n, model in found.items() if model is not None and model != self.models[n].number]
        if missing or wrong:
            problems = '; '.join(filter(None, [missing and f'no answer from {", ".join(missing)}',
                                               wrong and f'wrong model: {", ".join(wrong)}']))
            bad_ids = [self.ids[n] for n, model in found.items() if model != self.models[n].number]
            raise MotorNotFound(f'{self.config.port} at {self.config.baudrate} baud: {problems}. Check servo power, '
                                'ids and baud rate.', bad_ids)

    def _configure(self) -> None:
        self.disable_torque()
        registers = {name: dict(self._setup[name]) for name in self.names}
        if self.calibration is not None:
            for name in self.names:
                registers[name].update(self.calibration_registers(self.calibration[name]))
        self._write_registers(registers, torque_off=False)

    def _write_registers(self, registers: Mapping[str, Mapping[str, int]], torque_off: bool) -> None:
        """Write registers that differ from the servo's values (read first: reads do not wear flash)."""
        changes = {}
        for joint, wanted in registers.items():
            names = tuple(wanted)
            if not names:
                continue
            current = self.sync_read_many(names, [joint])
            diff = {r: v for r, v in wanted.items() if current[r][joint] != v}
            if diff:
                changes[joint] = diff
        if not changes:
            return
        if torque_off:
            self.disable_torque(list(changes))
        with self._eeprom_writable(list(changes)):
            for joint, diff in changes.items():
                for register, value in diff.items():
                    self.write(register, joint, value)


@functools.cache
def _port_handler_type(sdk: ModuleType) -> type:
    """The SDK's PortHandler with the packet timeout's adapter latency as a parameter.

    Both SDKs time a status packet out after tx_time * bytes + 2 * LATENCY_TIMER + 2 ms with
    LATENCY_TIMER fixed at 16 ms in the module; this is the same formula, per port.
    """

    class PortHandler(sdk.PortHandler):
        def __init__(self, port_name: str, latency_timer_ms: float):
            super().__init__(port_name)
            self.latency_timer_ms = latency_timer_ms

        def setPacketTimeout(self, packet_length):  # noqa: N802 (the SDK's name)
            self.packet_start_time = self.getCurrentTime()
            self.packet_timeout = self.tx_time_per_byte * packet_length + 2 * self.latency_timer_ms + 2.0

    return PortHandler
