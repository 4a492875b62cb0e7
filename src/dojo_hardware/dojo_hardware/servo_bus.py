"""The servo-bus parameters arm_driver and leader_arm share, and opening a calibrated bus from them.

Both nodes drive a chain of servos through dojo_core.motors and differ only in what they do with
the readings, so the bus description (family, port, ids, models, calibration, registers written
at connect, loop rates, fault and warning thresholds) is one parameter dataclass, declared by both.

Calibration: `calibration_file` is a LeRobot calibration JSON (`~` is expanded). Empty means the
calibration the servos already hold: Homing_Offset and Min/Max_Position_Limit, which
`dojo calibrate` and LeRobot both write into the servos' EEPROM (Dynamixel also Drive_Mode). Feetech
servos have no direction register, so a Feetech arm without a file has every joint not inverted
(drive_mode 0), as on the SO-100/SO-101.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dojo_core.motors import (PROTOCOLS, MotorBus, MotorBusConfig, MotorBusError,
                              load_calibration, make_bus)
from dojo_core.motors.tables import DEFAULT_MODEL, FEETECH
from dojo_core.robot.description import JOINT_NAMES

#: What `open_bus` raises when the bus cannot be opened as configured: the servos do not answer
#: (MotorBusError), the calibration does not fit (ValueError), the calibration file is unreadable (OSError).
OPEN_ERRORS = (MotorBusError, ValueError, OSError)


@dataclass
class BusParams:
    """One servo bus: where it is, what is on it, how fast to poll it and when to complain."""

    bus: str = field(default=FEETECH, metadata={
        'description': f'Servo family, one of {PROTOCOLS}: feetech = STS3215 chain (SO-100/SO-101), '
                       'dynamixel = X-series over protocol 2.0 (Koch).',
        'read_only': True})
    port: str = field(default='/dev/ttyACM0', metadata={
        'description': 'Serial port of the bus (a /dev/serial/by-id/... path survives re-plugging).',
        'read_only': True})
    baudrate: int = field(default=1_000_000, metadata={
        'description': 'Line rate of the bus in baud (the servos\' Baud_Rate setting).', 'read_only': True})
    joint_names: list[str] = field(default_factory=lambda: list(JOINT_NAMES), metadata={
        'description': 'Joints on the bus, in motor_ids order; the names of joint_states and of the '
                       'calibration file entries.',
        'read_only': True})
    motor_ids: list[int] = field(default_factory=lambda: list(range(1, len(JOINT_NAMES) + 1)), metadata={
        'description': 'Servo id of each joint of joint_names.', 'read_only': True})
    motor_models: list[str] = field(default_factory=list, metadata={
        'description': 'Servo model of each joint (joint_names order), or one model for all; empty = '
                       f'{DEFAULT_MODEL[FEETECH]} on feetech, {DEFAULT_MODEL["dynamixel"]} on dynamixel.',
        'read_only': True})
    calibration_file: str = field(default='', metadata={
        'description': 'LeRobot calibration JSON (id, drive_mode, homing_offset, range_min, range_max per '
                       'joint), written to the servos at connect; empty = use the calibration stored on the '
                       'servos (Homing_Offset, Min/Max_Position_Limit; Feetech joints then not inverted).',
        'read_only': True})
    setup_registers: list[str] = field(default_factory=list, metadata={
        'description': "Registers written at connect (only where they differ), as '<joint or *>:<Register>="
                       "<value>', e.g. '*:P_Coefficient=16', 'gripper:Torque_Limit=500' (a joint entry wins "
                       "over '*'); empty = the bus defaults (feetech: LeRobot's SO-101 follower gains P16 I0 D32 "
                       'and half torque on the gripper; dynamixel: position mode, no reply delay).',
        'read_only': True})
    retries: int = field(default=3, metadata={
        'description': 'How often the bus layer repeats a transaction whose reply is missing or corrupt.',
        'range': (0, 10), 'read_only': True})
    latency_timer_ms: float = field(default=16.0, metadata={
        'description': 'USB-serial adapter latency (ms) budgeted twice in every reply timeout (FTDI default 16).',
        'range': (0.0, 1000.0), 'read_only': True})
    rate_hz: float = field(default=100.0, metadata={
        'description': 'Bus loop rate: one position read (and for arm_driver one goal write) per cycle.',
        'range': (1.0, 1000.0), 'read_only': True})
    status_rate_hz: float = field(default=2.0, metadata={
        'description': 'Rate of the slow status read (temperature, voltage, load, alarms) for /diagnostics; '
                       '0 = never.',
        'range': (0.0, 100.0), 'read_only': True})
    max_consecutive_failures: int = field(default=5, metadata={
        'description': 'Failed cycles in a row (each after the bus retries) that put the bus in fault; a lost '
                       'port faults at once.',
        'range': (1, 10_000), 'read_only': True})
    reconnect_interval_s: float = field(default=1.0, metadata={
        'description': 'Time between attempts to re-open the bus while in fault.',
        'range': (0.01, 60.0), 'read_only': True})
    temperature_warn_c: float = field(default=60.0, metadata={
        'description': '/diagnostics warns when a servo is hotter than this (degC).',
        'range': (0.0, 150.0), 'read_only': True})
    voltage_min_v: float = field(default=4.5, metadata={
        'description': '/diagnostics warns when a servo supply is below this (V).',
        'range': (0.0, 30.0), 'read_only': True})
    voltage_max_v: float = field(default=14.0, metadata={
        'description': '/diagnostics warns when a servo supply is above this (V).',
        'range': (0.0, 30.0), 'read_only': True})
    urdf_file: str = field(default='', metadata={
        'description': 'URDF or xacro whose joint limits bound every commanded position; empty = the '
                       'installed so101.urdf.xacro.',
        'read_only': True})
    diagnostics_period_s: float = field(default=1.0, metadata={
        'description': 'Period of the /diagnostics reports.', 'range': (0.05, 60.0), 'read_only': True})

    def __post_init__(self) -> None:
        if self.bus not in PROTOCOLS:
            raise ValueError(f'bus must be one of {PROTOCOLS}, got {self.bus!r}')
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f'joint_names must be unique and not empty, got {self.joint_names}')
        if len(self.motor_ids) != len(self.joint_names):
            raise ValueError(f'motor_ids needs one id per joint of {self.joint_names}, got {self.motor_ids}')
        if len(self.motor_models) not in (0, 1, len(self.joint_names)):
            raise ValueError(f'motor_models needs one model, or one per joint of {self.joint_names}, '
                             f'got {self.motor_models}')
        if self.status_rate_hz > self.rate_hz:
            raise ValueError(f'status_rate_hz ({self.status_rate_hz}) cannot exceed rate_hz ({self.rate_hz})')
        if self.voltage_min_v >= self.voltage_max_v:
            raise ValueError(f'voltage_min_v ({self.voltage_min_v}) must be below voltage_max_v ({self.voltage_max_v})')
        try:  # ids, models, baud rate and setup registers, checked now rather than at the first connect
            make_bus(self.motor_bus_config())
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None

    def motor_bus_config(self) -> MotorBusConfig:
        models = self.motor_models or [DEFAULT_MODEL[self.bus]]
        if len(models) == 1:
            models = models * len(self.joint_names)
        motors = {name: (motor_id, model) for name, motor_id, model in zip(self.joint_names, self.motor_ids, models)}
        return MotorBusConfig(port=self.port, protocol=self.bus, motors=motors, baudrate=self.baudrate,
                              retries=self.retries, latency_timer_ms=self.latency_timer_ms,
                              setup=parse_setup_registers(self.setup_registers, self.joint_names))


def parse_setup_registers(entries: list[str], joint_names: list[str]) -> dict[str, dict[str, int]] | None:
    """`['*:P_Coefficient=16', 'gripper:Torque_Limit=500']` -> {'*': {...}, 'gripper': {...}}; [] -> None.

    Register names and values are checked by the bus (unknown register: KeyError; value that does
    not fit: ValueError); this checks the shape and the joint names.
    """
    if not entries:
        return None
    setup: dict[str, dict[str, int]] = {}
    for entry in entries:
        joint, colon, assignment = entry.partition(':')
        register, equals, value = assignment.partition('=')
        joint, register, value = joint.strip(), register.strip(), value.strip()
        if not (colon and equals and joint and register):
            raise ValueError(f"setup_registers entry {entry!r} must read '<joint or *>:<Register>=<value>'")
        if joint != '*' and joint not in joint_names:
            raise ValueError(f'setup_registers entry {entry!r}: {joint!r} is not one of {joint_names}')
        try:
            setup.setdefault(joint, {})[register] = int(value, 0)
        except ValueError:
            raise ValueError(f'setup_registers entry {entry!r}: {value!r} is not an integer') from None
    return setup


def open_bus(params: BusParams) -> MotorBus:
    """Connect and configure the bus (setup registers, calibration; torque off) and load its calibration.

    Raises MotorBusError when the servos cannot be reached, ValueError when the calibration does not
    fit the bus, OSError when the calibration file cannot be read.
    """
    calibration = load_calibration(Path(params.calibration_file).expanduser()) if params.calibration_file else None
    bus = make_bus(params.motor_bus_config(), calibration)
    bus.connect()
    if calibration is None:
        try:
            bus.apply_calibration(bus.read_calibration(), write=False)
        except BaseException:
            bus.close()
            raise
    return bus

